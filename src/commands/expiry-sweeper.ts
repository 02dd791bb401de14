import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import type { Logger } from '../logger';
import type { TransferCommands } from './transfer-commands';

export const expirySweepIntervalMs = 1_000;

/**
 * Expires pending transfers whose timeout has passed, once a second. Safe with several
 * copies running: expiry is a decision appended with an expected revision, so one wins.
 */
export function startExpirySweeper(transfers: TransferCommands, pool: Pool, logger: Logger): { stop(): Promise<void> } {
  const log = logger.child({ component: 'expiry-sweeper' });
  const abort = new AbortController();
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        const expired = await transfers.expireDueTransfers(pool);
        if (expired > 0) log.info({ expired }, 'expired pending transfers');
      } catch (err) {
        log.error({ err }, 'expiry sweep failed');
      }
      await sleep(expirySweepIntervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
    }
  })();
  return {
    async stop() {
      abort.abort();
      await loop;
    },
  };
}
