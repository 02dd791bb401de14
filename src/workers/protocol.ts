/**
 * What the main thread and a background worker thread say to each other. The worker runs
 * one role of the service, with its own pool and event-store client, so its batches never
 * hold up the HTTP event loop (or each other).
 */
import type { MetricsSnapshot } from '../metrics/registry';

import type { BridgeSettings } from '../integration/settings';

/** The bridge runs only when Kafka is configured. */
export const backgroundRoles = ['transfer-process', 'projections', 'bridge'] as const;
export type BackgroundRole = (typeof backgroundRoles)[number];

/** Given to the worker as its workerData. The database is migrated before any worker starts. */
export interface WorkerSettings {
  role: BackgroundRole;
  databaseUrl: string;
  eventStoreUrl: string | undefined;
  pgPoolMax: number;
  logLevel: string;
  /** The bridge role's settings. */
  bridge?: BridgeSettings;
}

export type ToWorker = { type: 'stop' } | { type: 'metrics'; requestId: number };

export type FromWorker =
  { type: 'ready' } | { type: 'metrics'; requestId: number; metrics: MetricsSnapshot } | { type: 'stopped' };
