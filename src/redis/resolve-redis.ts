/**
 * Where the ledger's Redis is, for `npm start` and the test run: REDIS_URL if set (it must
 * answer); else a Redis answering on 127.0.0.1:6379; else a redis-server started here when
 * the binary is on PATH (a free local port, persisting nothing, stopped with stop()); else
 * an error that says how to provide one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { hasExited, stopChild } from '../child-process';
import { freePort } from '../net';
import { withDeadline } from '../deadline';
import { boundedRedisOptions, redisLocation } from './client';

export interface ResolvedRedis {
  url: string;
  source: 'REDIS_URL' | 'local server' | 'started redis-server';
  /** Stops a redis-server started here; nothing for a Redis found running. */
  stop(): Promise<void>;
}

export interface ResolveRedisOptions {
  /** REDIS_URL, when set. */
  url: string | undefined;
  /** A started redis-server's working directory (its log; it persists nothing). */
  serverDir: string;
  /** Delete serverDir when the started server stops (a test run's temporary directory). */
  removeServerDir?: boolean;
  /** Where to look for a running Redis before starting one. */
  localUrl?: string;
  /** The redis-server binary: a name looked up on PATH, or a path. */
  serverCommand?: string;
}

export const localRedisUrl = 'redis://127.0.0.1:6379';
export const howToProvideRedis =
  'set REDIS_URL=redis://host:port, run Redis on 127.0.0.1:6379, or install redis-server so the ledger can start one';

/** REDIS_URL gets a little longer than the local probe: it may be across a network. */
const urlProbeTimeoutMs = 3_000;
const localProbeTimeoutMs = 500;
const serverStartTimeoutMs = 10_000;
const serverStopTimeoutMs = 5_000;
/** Another process may take the free port before redis-server binds it; try a new one. */
const maxServerStartAttempts = 3;
const startPollIntervalMs = 50;
const probeDisconnectTimeoutMs = 100;
const logTailBytes = 2_000;

/** Whether a Redis answers PING at `url` within `timeoutMs`; the reason when it does not. */
export async function pingRedis(url: string, timeoutMs: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  const client = new Redis(
    url,
    boundedRedisOptions({
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      // A probe has nothing to flush: do not keep a socket (and the process) around after it.
      disconnectTimeout: probeDisconnectTimeoutMs,
    }),
  );
  client.on('error', () => undefined);
  try {
    await withDeadline(
      client.connect().then(() => client.ping()),
      timeoutMs,
      'PING',
    );
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  } finally {
    client.disconnect();
  }
}

function findExecutable(command: string): string | undefined {
  const candidates = command.includes(path.sep)
    ? [command]
    : (process.env.PATH ?? '')
        .split(path.delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => path.join(dir, command));
  return candidates.find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return statSync(candidate).isFile();
    } catch {
      return false;
    }
  });
}

function logTail(logFile: string): string {
  try {
    const text = readFileSync(logFile, 'utf8').trim();
    return text.slice(-logTailBytes);
  } catch {
    return '(no log)';
  }
}

/** Polls until the server answers, it exits, or the start timeout passes. */
async function awaitServer(child: ChildProcess, url: string): Promise<boolean> {
  const deadline = Date.now() + serverStartTimeoutMs;
  while (Date.now() < deadline && !hasExited(child)) {
    if ((await pingRedis(url, localProbeTimeoutMs)).ok) return true;
    await sleep(startPollIntervalMs);
  }
  return false;
}

async function startRedisServer(binary: string, options: ResolveRedisOptions): Promise<ResolvedRedis> {
  const dir = path.resolve(options.serverDir);
  mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'redis-server.log');
  for (let attempt = 1; attempt <= maxServerStartAttempts; attempt++) {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    const child = spawn(binary, [...args, '--dir', dir, '--logfile', logFile, '--daemonize', 'no'], {
      stdio: 'ignore',
    });
    if (child.pid === undefined) {
      const [err] = await withDeadline(once(child, 'error'), serverStopTimeoutMs, `starting ${binary}`);
      throw new Error(`cannot run ${binary}: ${(err as Error).message}`, { cause: err });
    }
    child.on('error', () => undefined); // e.g. a failed kill of a server that already exited
    // If this process ends without stop() (an uncaught error, process.exit), take the server along.
    const stopOnExit = () => child.kill('SIGTERM');
    process.once('exit', stopOnExit);
    if (await awaitServer(child, url)) {
      return {
        url,
        source: 'started redis-server',
        async stop() {
          process.off('exit', stopOnExit);
          await stopChild(child, serverStopTimeoutMs);
          if (options.removeServerDir) rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    process.off('exit', stopOnExit);
    await stopChild(child, serverStopTimeoutMs);
  }
  throw new Error(
    `${binary} did not start (${maxServerStartAttempts} attempts, each given ${serverStartTimeoutMs} ms to answer); ` +
      `its log ${logFile} ends with:\n${logTail(logFile)}`,
  );
}

export async function resolveRedis(options: ResolveRedisOptions): Promise<ResolvedRedis> {
  const nothingToStop = async () => undefined;
  if (options.url !== undefined) {
    const answer = await pingRedis(options.url, urlProbeTimeoutMs);
    if (!answer.ok) {
      throw new Error(`REDIS_URL is set, but no Redis answers PING at ${redisLocation(options.url)}: ${answer.reason}`);
    }
    return { url: options.url, source: 'REDIS_URL', stop: nothingToStop };
  }
  const localUrl = options.localUrl ?? localRedisUrl;
  if ((await pingRedis(localUrl, localProbeTimeoutMs)).ok) {
    return { url: localUrl, source: 'local server', stop: nothingToStop };
  }
  const command = options.serverCommand ?? 'redis-server';
  const binary = findExecutable(command);
  if (binary === undefined) {
    throw new Error(
      `no Redis: REDIS_URL is not set, nothing answers at ${redisLocation(localUrl)} and ${command} is not on PATH; ${howToProvideRedis}`,
    );
  }
  return startRedisServer(binary, options);
}
