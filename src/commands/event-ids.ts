import { hash } from 'node:crypto';

/**
 * A name-based UUID (RFC 9562 version 5, SHA-1) in the ledger's namespace: the same name
 * always gives the same id, so an event a process writes again after a crash or a retry
 * carries the id of the first attempt and the store keeps it once.
 */
const ledgerNamespace = Buffer.from('6f1d2a3c9b7e4f5a8c0d1e2f3a4b5c6d', 'hex');

export function deterministicEventId(...parts: string[]): string {
  // One-shot hashing: the process derives an id for every event it writes.
  const digest = hash('sha1', Buffer.concat([ledgerNamespace, Buffer.from(parts.join('\u0000'))]), 'buffer');
  digest[6] = (digest[6] & 0x0f) | 0x50;
  digest[8] = (digest[8] & 0x3f) | 0x80;
  const hex = digest.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
