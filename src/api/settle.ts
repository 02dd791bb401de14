/**
 * `Prefer: wait=N`: polls the transfer's own stream (the truth, not a read model) until it
 * is settled or N seconds pass. Stops early when the client goes away.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AcceptedTransfer, TransferCommands } from '../commands/transfer-commands';
import { isTerminalTransferStatus, type TransferState } from '../domain/transfer';

const firstPollMs = 5;
const maxPollMs = 100;

/** A new transfer is settled when terminal, or HELD in pending mode (waiting for a decision). */
export function isSettledRequest(state: TransferState): boolean {
  return isTerminalTransferStatus(state.status) || (state.status === 'HELD' && state.request?.mode === 'pending');
}

/** A commit or void is settled when the transfer has ended. */
export function isSettledDecision(state: TransferState): boolean {
  return isTerminalTransferStatus(state.status);
}

export async function awaitSettled(
  transfers: TransferCommands,
  accepted: AcceptedTransfer,
  waitSeconds: number,
  settled: (state: TransferState) => boolean,
  signal: AbortSignal,
): Promise<{ transfer: AcceptedTransfer; settled: boolean }> {
  const deadline = Date.now() + waitSeconds * 1000;
  let current = accepted;
  for (let pollMs = firstPollMs; ; pollMs = Math.min(pollMs * 2, maxPollMs)) {
    if (settled(current.state)) return { transfer: current, settled: true };
    const left = deadline - Date.now();
    if (left <= 0 || signal.aborted) return { transfer: current, settled: false };
    try {
      await sleep(Math.min(pollMs, left), undefined, { signal });
    } catch {
      return { transfer: current, settled: false };
    }
    const latest = await transfers.getTransfer(current.transferId);
    if (latest) current = { ...latest, replayed: accepted.replayed };
  }
}
