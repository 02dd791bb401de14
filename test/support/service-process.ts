/**
 * The service as a real process, as `npm start` runs it (src/main.ts, here through ts-node
 * so no build is needed), for tests that kill it: SIGKILL takes its worker threads along.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { freePort } from '../../src/net';
import { testJobsPrefix } from './redis';

const startTimeoutMs = 90_000;
const stopTimeoutMs = 40_000;
const logTailChars = 3_000;

export interface ServiceProcess {
  url: string;
  pid: number;
  /** The service's /metrics text. */
  metrics(): Promise<string>;
  /** SIGKILL, as a crash or an OOM killer would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM: a graceful stop. */
  stop(): Promise<void>;
}

export async function startServiceProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const main = path.join(__dirname, '..', '..', 'src', 'main.ts');
  const child: ChildProcess = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', main], {
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      ...(env.DATABASE_URL && { JOBS_PREFIX: testJobsPrefix(env.DATABASE_URL) }),
      ...env,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-logTailChars);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = once(child, 'exit');
  const stopOnExit = () => child.kill('SIGKILL');
  process.once('exit', stopOnExit);
  const url = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the service exited (${child.exitCode ?? child.signalCode}) before it answered:\n${output}`);
    }
    const live = await fetch(`${url}/health/live`).then(
      (res) => res.ok,
      () => false,
    );
    if (live) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service did not answer within ${startTimeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const end = async (signal: NodeJS.Signals) => {
    process.off('exit', stopOnExit);
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    url,
    pid: child.pid!,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    kill: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
  };
}

/** The sum of a metric's series in Prometheus text (0 when absent). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(match[1]);
  return sum;
}
