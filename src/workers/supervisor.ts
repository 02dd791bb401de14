/**
 * Runs a background role (protocol.ts) in a worker thread and keeps it running: a thread
 * that dies is restarted after a delay that doubles from 1 s up to 30 s (back to 1 s once
 * a thread has run for a minute). Its metrics join the main thread's scrape.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Counter } from 'prom-client';
import type { Logger } from '../logger';
import { addMetricsSource, type MetricsSnapshot } from '../metrics/registry';
import {
  type BackgroundRole,
  type FromWorker,
  roleResourceLimits,
  type ToWorker,
  type WorkerSettings,
} from './protocol';

export const firstRestartDelayMs = 1_000;
export const maxRestartDelayMs = 30_000;
/** A thread that ran this long before dying restarts after the first delay again. */
const healthyRunMs = 60_000;
/** A scrape waits this long for a worker's metrics; past it, they are left out. */
export const workerMetricsTimeoutMs = 1_000;
/** How long a worker may take to stop at a checkpoint before it is terminated. */
export const workerStopTimeoutMs = 30_000;

const restarts = new Counter({
  name: 'ledger_worker_restarts_total',
  help: 'Background worker threads restarted after they died, by role',
  labelNames: ['role'],
});

export interface BackgroundWorker {
  readonly role: BackgroundRole;
  /** Stops the role at a checkpoint and ends the thread (terminated past workerStopTimeoutMs). */
  stop(): Promise<void>;
  /** Ends the thread at once, mid-batch, as a crash would; it is restarted like any thread that dies. */
  kill(): Promise<void>;
}

export interface SupervisorOptions {
  /** The script the thread runs; the ledger's worker unless a test swaps it. */
  entry?: WorkerEntry;
  firstRestartDelayMs?: number;
  stopTimeoutMs?: number;
}

export interface WorkerEntry {
  filename: string;
  execArgv?: string[];
}

/**
 * The worker script next to this file: compiled JavaScript in a build, TypeScript (loaded
 * through ts-node) when the service runs from source, as under jest.
 */
export function ledgerWorkerEntry(): WorkerEntry {
  if (path.extname(__filename) !== '.ts') return { filename: path.join(__dirname, 'worker.js') };
  return { filename: path.join(__dirname, 'worker.ts'), execArgv: ['--require', 'ts-node/register/transpile-only'] };
}

/** Starts the thread and resolves once its role runs; rejects if the first thread dies before. */
export async function startBackgroundWorker(
  settings: WorkerSettings,
  logger: Logger,
  options: SupervisorOptions = {},
): Promise<BackgroundWorker> {
  const entry = options.entry ?? ledgerWorkerEntry();
  const firstDelayMs = options.firstRestartDelayMs ?? firstRestartDelayMs;
  const stopTimeoutMs = options.stopTimeoutMs ?? workerStopTimeoutMs;
  const log = logger.child({ component: 'worker', role: settings.role });
  restarts.inc({ role: settings.role }, 0);

  let current: Worker | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopping = false;
  /** Until the first thread is ready, a death fails the start rather than restarting. */
  let started = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let delayMs = firstDelayMs;
  let nextRequestId = 0;
  const pendingMetrics = new Map<number, (metrics: MetricsSnapshot) => void>();

  const spawn = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(entry.filename, {
        workerData: settings,
        execArgv: entry.execArgv,
        resourceLimits: roleResourceLimits[settings.role],
      });
      const startedAt = Date.now();
      let ready = false;
      current = worker;
      exited = new Promise((done) => worker.once('exit', () => done()));
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          ready = true;
          started = true;
          resolve();
        } else if (message.type === 'metrics') {
          pendingMetrics.get(message.requestId)?.(message.metrics);
        }
      });
      worker.on('error', (err) => log.error({ err }, 'worker thread failed'));
      worker.once('exit', (code) => {
        current = undefined;
        if (!ready) reject(new Error(`${settings.role} worker exited with code ${code} before it was ready`));
        if (stopping || !started) return;
        if (Date.now() - startedAt >= healthyRunMs) delayMs = firstDelayMs;
        log.error({ code, restartInMs: delayMs }, 'worker thread died; restarting it');
        restarts.inc({ role: settings.role });
        restartTimer = setTimeout(() => {
          restartTimer = undefined;
          if (stopping) return;
          spawn().catch((err) => log.error({ err }, 'worker thread failed to start'));
        }, delayMs);
        delayMs = Math.min(delayMs * 2, maxRestartDelayMs);
      });
    });

  const metrics = (): Promise<MetricsSnapshot> => {
    const worker = current;
    if (!worker) return Promise.resolve([]);
    const requestId = nextRequestId++;
    return new Promise((resolve) => {
      const finish = (snapshot: MetricsSnapshot) => {
        clearTimeout(timer);
        pendingMetrics.delete(requestId);
        resolve(snapshot);
      };
      const timer = setTimeout(() => finish([]), workerMetricsTimeoutMs);
      pendingMetrics.set(requestId, finish);
      worker.postMessage({ type: 'metrics', requestId } satisfies ToWorker);
    });
  };

  await spawn();
  const removeSource = addMetricsSource(metrics);
  let stopped: Promise<void> | undefined;
  const stop = async () => {
    stopping = true;
    removeSource();
    clearTimeout(restartTimer);
    const worker = current;
    if (!worker) return;
    worker.postMessage({ type: 'stop' } satisfies ToWorker);
    const timer = setTimeout(() => {
      log.error({ timeoutMs: stopTimeoutMs }, 'worker thread did not stop in time; terminating it');
      void worker.terminate();
    }, stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };
  const kill = async () => {
    const worker = current;
    if (worker) await worker.terminate();
  };
  return { role: settings.role, stop: () => (stopped ??= stop()), kill };
}
