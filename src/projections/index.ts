import type { Pool } from 'pg';
import type { EventStore } from '../eventstore/port';
import type { Logger } from '../logger';
import { accountsProjection } from './accounts';
import type { Projection } from './projection';
import { type RunningProjection, startProjection } from './runner';
import { transfersProjection } from './transfers';

export const allProjections: readonly Projection[] = [accountsProjection, transfersProjection];

export function findProjection(name: string): Projection | undefined {
  return allProjections.find((p) => p.name === name);
}

export function startProjections(store: EventStore, pool: Pool, logger: Logger): { stop(): Promise<void> } {
  const running: RunningProjection[] = allProjections.map((projection) =>
    startProjection({ projection, store, pool, logger }),
  );
  return {
    async stop() {
      await Promise.all(running.map((r) => r.stop()));
    },
  };
}
