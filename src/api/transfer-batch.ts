/**
 * POST /v1/transfers/batch: each item accepted or rejected on its own, exactly as if posted
 * alone, and the accepted ones stored in one round trip (TransferCommands.requestTransfers).
 */
import type { TransferRequestInput } from '../commands/transfer-commands';
import { DomainError } from '../domain/errors';
import type { ApiContext } from './context';
import { type Problem, toProblem, ValidationFailed } from './problems';
import { fieldProblems, type TransferBody, transferBody } from './schemas';
import { currenciesFor, toTransferInput } from './transfer-intake';

export interface BatchItem {
  index: number;
  id?: string;
  status?: string;
  error?: Problem;
}

export interface BatchOutcome {
  items: BatchItem[];
  /** The highest position written or read for an accepted item; none accepted: undefined. */
  position: bigint | undefined;
  /** Every accepted item was made by an earlier request (and at least one was accepted). */
  allReplayed: boolean;
}

/**
 * With Idempotency-Key K, item i claims key "K#i" in a scope of K's own, so a repeated batch
 * finds each of its transfers again and an item whose body changed gets IDEMPOTENCY_KEY_REUSED.
 */
function itemKey(key: string, index: number): string {
  return `${key.slice(0, 240)}#${index}`;
}

export async function requestBatch(
  ctx: ApiContext,
  transfers: readonly unknown[],
  scope: string,
  key: string | undefined,
): Promise<BatchOutcome> {
  const items: BatchItem[] = new Array(transfers.length);
  const reject = (index: number, id: { id?: string }, err: unknown) => {
    items[index] = { index, ...id, error: toProblem(err) };
  };

  const valid: { index: number; body: TransferBody }[] = [];
  transfers.forEach((item, index) => {
    const parsed = transferBody.safeParse(item);
    if (parsed.success) valid.push({ index, body: parsed.data });
    else reject(index, givenId(item), new ValidationFailed(fieldProblems(parsed.error, 'body')));
  });

  const currencies = await currenciesFor(
    ctx,
    valid.map((v) => v.body),
  );
  const inputs = valid.flatMap(({ index, body }) => {
    try {
      return [{ index, input: toTransferInput(body, currencies, key === undefined ? undefined : itemKey(key, index)) }];
    } catch (err) {
      if (!(err instanceof ValidationFailed || err instanceof DomainError)) throw err;
      reject(index, givenId(body), err);
      return [];
    }
  });

  const batchScope = key === undefined ? scope : `${scope}\u0000batch\u0000${key}`;
  let position: bigint | undefined;
  let allReplayed = inputs.length > 0;
  for (const round of byDistinctTransferId(inputs)) {
    const outcomes = await ctx.transfers.requestTransfers(
      round.map((i) => i.input),
      batchScope,
    );
    outcomes.forEach((outcome, k) => {
      const { index, input } = round[k];
      if (!outcome.ok) {
        reject(index, givenId(input), outcome.error);
        return;
      }
      const accepted = outcome.transfer;
      items[index] = { index, id: accepted.transferId, status: accepted.state.status };
      if (position === undefined || accepted.position > position) position = accepted.position;
      allReplayed &&= accepted.replayed;
    });
  }
  return { items, position, allReplayed: allReplayed && position !== undefined };
}

/**
 * Splits the items into rounds in which no transfer id appears twice: the store refuses one
 * append that names a stream twice. A repeated id goes into a later round, where it finds
 * the transfer the earlier item made — as if it had been posted after it. Almost always
 * one round.
 */
function byDistinctTransferId<T extends { input: TransferRequestInput }>(items: T[]): T[][] {
  const rounds: { items: T[]; ids: Set<string> }[] = [];
  for (const item of items) {
    const id = item.input.transferId;
    let round = rounds.find((r) => id === undefined || !r.ids.has(id));
    if (!round) rounds.push((round = { items: [], ids: new Set() }));
    round.items.push(item);
    if (id !== undefined) round.ids.add(id);
  }
  return rounds.map((r) => r.items);
}

/** The id the client gave an item, to name it in an error; nothing if it is not a plausible id. */
function givenId(item: unknown): { id?: string } {
  if (typeof item !== 'object' || item === null) return {};
  const { id, transferId } = item as { id?: unknown; transferId?: unknown };
  const given = id ?? transferId;
  return typeof given === 'string' && given.length <= 64 ? { id: given } : {};
}
