/**
 * Re-projects one account: its read-model row and statement are deleted and folded again
 * from its stream by the accounts projection's own code, up to the projection's checkpoint.
 * The transaction first locks the projection's checkpoint row, which every batch of the
 * live projection locks first too: no batch is in flight meanwhile, and none starts until
 * the repair commits, so the account is rebuilt exactly to where the projection stands.
 */
import type { Pool } from 'pg';
import { accountStream } from '../domain/streams';
import { inTransaction } from '../db/transaction';
import { readWholeStream } from '../commands/aggregates';
import type { EventStore } from '../eventstore/port';
import { accountsProjection } from './accounts';
import { liveTables } from './projection';
import { checkpointName } from './runner';

export async function reprojectAccount(pool: Pool, store: EventStore, accountId: string): Promise<void> {
  await inTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ position: string }>(
      'select position from ledger_checkpoints where name = $1 for update',
      [checkpointName(accountsProjection)],
    );
    const at = rows.length === 0 ? 0n : BigInt(rows[0].position);
    // The projection skips an event at or before a row's position: it must see them in position order.
    const events = (await readWholeStream(store, accountStream(accountId)))
      .filter((e) => e.position <= at)
      .sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    await tx.query('delete from rm_account_entries where account_id = $1', [accountId]);
    await tx.query('delete from rm_accounts where id = $1', [accountId]);
    if (events.length > 0) await accountsProjection.apply(tx, events, liveTables);
  });
}
