/**
 * A stand-in background worker for the supervisor's tests: speaks the protocol of
 * src/workers/protocol.ts. workerData.failBeforeReady: it dies at once. workerData.crashMarker:
 * the first thread (the one that creates that file) dies 100 ms after it is ready; later
 * ones stay up. workerData.ignoreStop: it does not stop when told to.
 */
const { existsSync, writeFileSync } = require('node:fs');
const { setInterval, setTimeout } = require('node:timers');
const { parentPort, workerData } = require('node:worker_threads');
const { Counter, register } = require('prom-client');

const settings = workerData;
if (settings.failBeforeReady) process.exit(4);

new Counter({ name: 'fake_worker_batches_total', help: 'batches a fake worker did' }).inc(7);

parentPort.on('message', (message) => {
  if (message.type === 'metrics') {
    register
      .getMetricsAsJSON()
      .then((metrics) => parentPort.postMessage({ type: 'metrics', requestId: message.requestId, metrics }));
  } else if (message.type === 'stop' && !settings.ignoreStop) {
    parentPort.postMessage({ type: 'stopped' });
    process.exit(0);
  }
});
parentPort.postMessage({ type: 'ready' });

if (settings.crashMarker && !existsSync(settings.crashMarker)) {
  writeFileSync(settings.crashMarker, 'crashed once');
  setTimeout(() => process.exit(3), 100);
}
// Keeps the thread alive, as a real role's subscriptions do.
setInterval(() => undefined, 1_000);
