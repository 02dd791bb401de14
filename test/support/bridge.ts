/**
 * The bridge's tests' shared steps: load on a test ledger, and what must then be on Kafka.
 */
import type { Pool } from 'pg';
import type { Collector, Received } from './kafka';
import type { TestLedger } from './ledger';

/** Event types that have no message of their own: a client's decision, followed by the steps it leads to. */
const unpublished = new Set(['TransferCommitRequested', 'TransferVoidRequested']);

/** The ids of every event written that must reach Kafka, with their positions. */
export async function publishable(pool: Pool): Promise<Map<string, bigint>> {
  const { rows } = await pool.query<{ event_id: string; position: string; type: string }>(
    `select event_id, position::text, type from ledger_events
      where stream_name like 'account-%' or stream_name like 'transfer-%' order by position`,
  );
  return new Map(rows.filter((r) => !unpublished.has(r.type)).map((r) => [r.event_id, BigInt(r.position)]));
}

/** Waits until every transfer requested is settled, then until each of its events is on Kafka. */
export async function waitForAll(pool: Pool, collector: Collector, timeoutMs = 90_000): Promise<Map<string, bigint>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ open: string }>(
      `select count(*) filter (where type = 'TransferRequested')
            - count(*) filter (where type in ('TransferCommitted', 'TransferRejected', 'TransferCancelled')) as open
         from ledger_events where stream_name like 'transfer-%'`,
    );
    if (rows[0].open === '0') break;
    if (Date.now() > deadline) throw new Error(`${rows[0].open} transfers still open`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const expected = await publishable(pool);
  await collector.waitFor(
    `all ${expected.size} events on Kafka`,
    (messages) => {
      const received = new Set(messages.map((m) => m.headers.ce_id));
      return [...expected.keys()].every((id) => received.has(id));
    },
    Math.max(1, deadline - Date.now()),
  );
  return expected;
}

export function expectEveryEventOnce(expected: Map<string, bigint>, messages: Received[]): void {
  const received = new Set(messages.map((m) => m.headers.ce_id));
  const missing = [...expected.keys()].filter((id) => !received.has(id));
  expect(missing).toEqual([]);
  expect(received.size).toBe(expected.size);
}

/** Many transfers among `accounts` accounts, requested concurrently in batches. */
export async function transfersAmong(
  ledger: TestLedger,
  accounts: number,
  transfers: number,
  prefix: string,
): Promise<void> {
  const ids = Array.from({ length: accounts }, (_, i) => `${prefix}${i}`);
  for (const id of ids) {
    await ledger.open(id, 'USD');
    await ledger.fund(id, 1_000_000n);
  }
  const batch = 250;
  for (let i = 0; i < transfers; i += batch) {
    await ledger.transfers.requestTransfers(
      Array.from({ length: Math.min(batch, transfers - i) }, (_, j) => {
        const n = i + j;
        return {
          transferId: `${prefix}t${n}`,
          sourceAccount: ids[n % accounts],
          destinationAccount: ids[(n * 7 + 1) % accounts],
          amountMinor: BigInt(1 + (n % 50)),
        };
      }),
    );
  }
}
