import path from 'node:path';
import { loadConfig, type Config } from './config';
import { openDatabase } from './db/database';
import { logAccessPolicy } from './api/access';
import { createApp } from './api/app';
import { startHttpServer } from './api/server';
import { processBacklog } from './commands/process-backlog';
import { TransferCommands } from './commands/transfer-commands';
import { openEventStore } from './eventstore';
import { instrumentEventStore } from './eventstore/instrumented';
import { JobQueues } from './jobs/queues';
import { watchSubscriberLag } from './metrics/subscriber-lag';
import { createLogger, type Logger } from './logger';
import { closeRedis, openRedis, redisLocation } from './redis/client';
import { resolveRedis } from './redis/resolve-redis';
import { backgroundRoles } from './workers/protocol';
import { startBackgroundWorker } from './workers/supervisor';

export interface RunningLedger {
  /** The HTTP API's base URL. */
  url: string;
  /** Stops everything, in reverse order of starting; calling it again waits for the same stop. */
  stop(): Promise<void>;
}

/** Composes the whole service. Each part added here is also stopped here, in reverse. */
export async function startLedger(config: Config, logger: Logger): Promise<RunningLedger> {
  const redisServer = await resolveRedis({ url: config.redisUrl, serverDir: path.join(config.dataDir, 'redis') });
  logger.info({ redis: redisLocation(redisServer.url), source: redisServer.source }, 'Redis found');
  const redis = await openRedis(redisServer.url, logger);
  const database = await openDatabase(config, logger);
  const eventStore = instrumentEventStore(openEventStore(config, database.pool, logger));
  const backlog = processBacklog(database.pool, config.ingressMaxBacklog, logger);
  const transfers = new TransferCommands(eventStore, { backlog });
  // The transfer process and the projections each run in a thread of their own, so their
  // batches neither hold up HTTP requests nor each other.
  if (config.bridge === undefined)
    logger.info('Kafka bridge off: KAFKA_BROKERS is not set, no integration events are published');
  const roles = backgroundRoles.filter((role) => role !== 'bridge' || config.bridge !== undefined);
  const workers = await Promise.all(
    roles.map((role) =>
      startBackgroundWorker(
        {
          role,
          databaseUrl: database.url,
          eventStoreUrl: config.eventStoreUrl,
          pgPoolMax: config.pgPoolMax,
          logLevel: logger.level,
          bridge: config.bridge,
          redisUrl: redisServer.url,
          reconcile: config.reconcile,
        },
        logger,
      ),
    ),
  );
  const subscriberLag = watchSubscriberLag({
    store: eventStore,
    pool: database.pool,
    logger,
    bridge: config.bridge !== undefined,
  });
  // The reconciler's queues, for the admin routes and the dashboard; its workers run in their own thread.
  const jobs = new JobQueues(redisServer.url, config.reconcile, logger);
  const access = { keys: config.apiKeys, rateLimit: config.rateLimit };
  logAccessPolicy(access, logger);
  const app = createApp({
    store: eventStore,
    pool: database.pool,
    transfers,
    redis,
    access,
    logger,
    bridge: config.bridge,
    jobs,
  });
  const http = await startHttpServer(app, { host: config.httpHost, port: config.httpPort }, logger);
  logger.info('ledger started');
  let stopped: Promise<void> | undefined;
  const stop = async () => {
    await http.stop();
    await jobs.close();
    backlog?.close();
    subscriberLag.stop();
    await Promise.all(workers.map((worker) => worker.stop()));
    await eventStore.close();
    await database.close();
    await closeRedis(redis);
    await redisServer.stop();
  };
  return {
    url: http.url,
    stop: () => (stopped ??= stop()),
  };
}

async function main(): Promise<void> {
  const logger = createLogger();
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    logger.fatal((err as Error).message);
    process.exit(2);
  }
  logger.level = config.logLevel;
  const ledger = await startLedger(config, logger);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    ledger.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err) => {
    createLogger().fatal({ err }, 'ledger failed to start');
    process.exit(1);
  });
}
