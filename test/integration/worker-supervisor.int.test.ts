/**
 * The supervisor of background worker threads (src/workers/supervisor.ts), with real
 * threads: a stand-in worker (test/support/fake-worker.js) where a test needs one to die,
 * and the ledger's own worker for the metrics a real role reports.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { renderMetrics } from '../../src/metrics/registry';
import type { WorkerSettings } from '../../src/workers/protocol';
import { startBackgroundWorker, type WorkerEntry } from '../../src/workers/supervisor';
import { testLogger } from '../support/ledger';

const fakeWorker: WorkerEntry = { filename: path.join(__dirname, '../support/fake-worker.js') };

function fakeSettings(extra: Record<string, unknown>): WorkerSettings {
  // The role names the metric series; the fake worker ignores the rest.
  return {
    role: 'projections',
    databaseUrl: 'postgres://unused',
    eventStoreUrl: undefined,
    pgPoolMax: 1,
    logLevel: 'silent',
    ...extra,
  };
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test("a worker's metrics join the main thread's scrape while it runs, and leave when it stops", async () => {
  const worker = await startBackgroundWorker(fakeSettings({}), testLogger, { entry: fakeWorker });
  expect(await renderMetrics()).toMatch(/^fake_worker_batches_total 7$/m);
  await worker.stop();
  expect(await renderMetrics()).not.toMatch(/fake_worker_batches_total/);
});

test('a worker that dies is restarted, and the restart is counted', async () => {
  const crashMarker = path.join(mkdtempSync(path.join(tmpdir(), 'ledger-worker-')), 'crashed');
  const restartsBefore = restartCount(await renderMetrics());
  const worker = await startBackgroundWorker(fakeSettings({ crashMarker }), testLogger, {
    entry: fakeWorker,
    firstRestartDelayMs: 50,
  });
  try {
    await eventually(async () => restartCount(await renderMetrics()) === restartsBefore + 1);
    // The restarted thread answers the scrape again.
    await eventually(async () => /^fake_worker_batches_total 7$/m.test(await renderMetrics()));
  } finally {
    await worker.stop();
  }
});

test('a worker that dies before it is ready fails the start instead of looping', async () => {
  await expect(
    startBackgroundWorker(fakeSettings({ failBeforeReady: true }), testLogger, { entry: fakeWorker }),
  ).rejects.toThrow('projections worker exited with code 4 before it was ready');
});

test('a worker that does not stop in time is terminated', async () => {
  const worker = await startBackgroundWorker(fakeSettings({ ignoreStop: true }), testLogger, {
    entry: fakeWorker,
    stopTimeoutMs: 200,
  });
  const started = Date.now();
  await worker.stop();
  expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  expect(await renderMetrics()).not.toMatch(/fake_worker_batches_total/);
});

function restartCount(metrics: string): number {
  const match = /^ledger_worker_restarts_total\{role="projections"\} (\d+)$/m.exec(metrics);
  return match ? Number(match[1]) : 0;
}
