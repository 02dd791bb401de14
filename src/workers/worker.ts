/**
 * The body of a background worker thread (see protocol.ts): runs its role until the main
 * thread says stop, then stops it at a checkpoint, closes its connections and exits. A
 * failure it cannot handle ends the thread with an error; the supervisor restarts it.
 */
import { isMainThread, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { startTransferProcess } from '../commands/transfer-process';
import { openPool } from '../db/database';
import { openEventStore } from '../eventstore';
import { instrumentEventStore } from '../eventstore/instrumented';
import type { Pool } from 'pg';
import type { EventStore } from '../eventstore/port';
import { startBridge } from '../integration/bridge';
import { startReconciler } from '../jobs/reconciler';
import { createLogger, type Logger } from '../logger';
import { metricsRegistry, type MetricsSnapshot } from '../metrics/registry';
import { startProjections } from '../projections';
import type { FromWorker, ToWorker, WorkerSettings } from './protocol';

async function run(settings: WorkerSettings, port: MessagePort): Promise<void> {
  const logger = createLogger(settings.logLevel).child({ worker: settings.role });
  const pool = openPool(settings.databaseUrl, settings.pgPoolMax, logger);
  const store = instrumentEventStore(openEventStore(settings, pool, logger));
  const role = startRole(settings, store, pool, logger);
  const send = (message: FromWorker) => port.postMessage(message);

  port.on('message', (message: ToWorker) => {
    if (message.type === 'metrics') {
      metricsRegistry.getMetricsAsJSON().then(
        (metrics) => send({ type: 'metrics', requestId: message.requestId, metrics: metrics as MetricsSnapshot }),
        (err) => logger.error({ err }, 'metrics could not be collected'),
      );
      return;
    }
    role
      .stop()
      .then(() => store.close())
      .then(() => pool.end())
      .then(
        () => {
          send({ type: 'stopped' });
          process.exit(0);
        },
        (err) => {
          logger.error({ err }, 'worker did not stop cleanly');
          process.exit(1);
        },
      );
  });
  send({ type: 'ready' });
}

function startRole(settings: WorkerSettings, store: EventStore, pool: Pool, logger: Logger): { stop(): Promise<void> } {
  switch (settings.role) {
    case 'transfer-process':
      return startTransferProcess({ store, pool, logger, restartOnError: true });
    case 'projections':
      return startProjections(store, pool, logger);
    case 'bridge': {
      if (settings.bridge === undefined) throw new Error('the bridge role needs its settings');
      return startBridge({ store, pool, logger, settings: settings.bridge });
    }
    case 'reconciler': {
      if (settings.redisUrl === undefined || settings.reconcile === undefined)
        throw new Error('the reconciler role needs Redis and its settings');
      return startReconciler({
        store,
        pool,
        redisUrl: settings.redisUrl,
        settings: settings.reconcile,
        bridge: settings.bridge !== undefined,
        logger,
      });
    }
    default: {
      const _exhaustive: never = settings.role;
      return _exhaustive;
    }
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  run(workerData as WorkerSettings, port).catch((err) => {
    createLogger().fatal({ err }, 'background worker failed to start');
    process.exit(1);
  });
}
