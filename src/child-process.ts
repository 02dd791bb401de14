/** Stopping a server the ledger started itself (redis-server, a Kafka broker): one way for all of them. */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { withDeadline } from './deadline';

/** A SIGKILLed process is gone at once; this only bounds the wait for its exit event. */
const killWaitMs = 5_000;

export const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Sends `signal` and waits at most `timeoutMs` for the exit; true once the process has exited. */
export async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return true;
  const exited = once(child, 'exit');
  child.kill(signal);
  try {
    await withDeadline(exited, timeoutMs, `exit after ${signal}`);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, and SIGKILL when it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (await signalAndWait(child, 'SIGTERM', graceMs)) return;
  await signalAndWait(child, 'SIGKILL', killWaitMs);
}
