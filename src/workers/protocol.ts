/**
 * What the main thread and a background worker thread say to each other. The worker runs
 * one role of the service, with its own pool and event-store client, so its batches never
 * hold up the HTTP event loop (or each other).
 */
import type { MetricsSnapshot } from '../metrics/registry';

import type { ResourceLimits } from 'node:worker_threads';
import type { BridgeSettings } from '../integration/settings';
import type { ReconcileSettings } from '../jobs/settings';

/** The bridge runs only when Kafka is configured. */
export const backgroundRoles = ['transfer-process', 'projections', 'reconciler', 'bridge'] as const;
export type BackgroundRole = (typeof backgroundRoles)[number];

/**
 * V8 limits by role. The bridge allocates short-lived buffers for every record and header
 * it encodes (kafkajs): a young generation of 64 MiB rather than the default cut the
 * service's CPU per transfer with the bridge on from about 2.0 to 1.5 ms (bench:bridge).
 */
export const roleResourceLimits: Partial<Record<BackgroundRole, ResourceLimits>> = {
  bridge: { maxYoungGenerationSizeMb: 64 },
};

/** Given to the worker as its workerData. The database is migrated before any worker starts. */
export interface WorkerSettings {
  role: BackgroundRole;
  databaseUrl: string;
  eventStoreUrl: string | undefined;
  pgPoolMax: number;
  logLevel: string;
  /** The bridge role's settings. */
  bridge?: BridgeSettings;
  /** The reconciler role's: its Redis and its settings. */
  redisUrl?: string;
  reconcile?: ReconcileSettings;
}

export type ToWorker = { type: 'stop' } | { type: 'metrics'; requestId: number };

export type FromWorker =
  { type: 'ready' } | { type: 'metrics'; requestId: number; metrics: MetricsSnapshot } | { type: 'stopped' };
