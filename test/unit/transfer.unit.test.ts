import type { TransferCancelReason, TransferRejectReason } from '../../src/domain/errors';
import { maxAmountMinor } from '../../src/domain/account';
import {
  creditAmountMinor,
  evolveTransfer,
  initialTransferState,
  isExpirable,
  isTerminalTransferStatus,
  transferDecider,
  type TransferCommand,
  type TransferEvent,
  type TransferMode,
  type VoidReason,
} from '../../src/domain/transfer';
import { specFor } from '../support/decider';

const { given } = specFor(transferDecider);
const T = 'b3f1c2d4-0000-4000-8000-000000000001';
const t0 = new Date('2025-03-01T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const now = at(10);

// ---- events -----------------------------------------------------------------------------
const requested = (mode: TransferMode = 'immediate', timeoutSeconds = 300): TransferEvent => ({
  type: 'TransferRequested',
  data: {
    transferId: T,
    sourceAccount: 'A',
    destinationAccount: 'B',
    amountMinor: 100n,
    currency: 'USD',
    mode,
    requestedAt: t0,
    ...(mode === 'pending' && { expiresAt: at(timeoutSeconds) }),
  },
});
const heldEvt: TransferEvent = { type: 'TransferHeld', data: { transferId: T, at: t0 } };
const commitRequested = (amountMinor = 100n, when = now): TransferEvent => ({
  type: 'TransferCommitRequested',
  data: { transferId: T, amountMinor, at: when },
});
const voidRequested = (reason: VoidReason = 'VOIDED', when = now): TransferEvent => ({
  type: 'TransferVoidRequested',
  data: { transferId: T, reason, at: when },
});
const creditedEvt = (amountMinor = 100n, when = now): TransferEvent => ({
  type: 'TransferCredited',
  data: { transferId: T, amountMinor, at: when },
});
const committedEvt = (amountMinor = 100n, when = now): TransferEvent => ({
  type: 'TransferCommitted',
  data: { transferId: T, amountMinor, at: when },
});
const rejectedEvt = (reason: TransferRejectReason = 'INSUFFICIENT_FUNDS', when = now): TransferEvent => ({
  type: 'TransferRejected',
  data: { transferId: T, reason, at: when },
});
const cancelledEvt = (reason: TransferCancelReason, when = now): TransferEvent => ({
  type: 'TransferCancelled',
  data: { transferId: T, reason, at: when },
});

// ---- commands ---------------------------------------------------------------------------
type RequestData = Extract<TransferCommand, { type: 'RequestTransfer' }>['data'];
const request = (overrides: Partial<RequestData> = {}): TransferCommand => ({
  type: 'RequestTransfer',
  data: {
    transferId: T,
    sourceAccount: 'A',
    destinationAccount: 'B',
    amountMinor: 100n,
    currency: 'USD',
    mode: 'immediate',
    now: t0,
    ...overrides,
  },
});
const markHeld = (when = t0): TransferCommand => ({ type: 'MarkHeld', data: { transferId: T, now: when } });
const markCredited = (when = now): TransferCommand => ({ type: 'MarkCredited', data: { transferId: T, now: when } });
const markCommitted = (when = now): TransferCommand => ({ type: 'MarkCommitted', data: { transferId: T, now: when } });
const reject = (reason: TransferRejectReason = 'INSUFFICIENT_FUNDS'): TransferCommand => ({
  type: 'RejectTransfer',
  data: { transferId: T, reason, now },
});
const cancel = (reason: TransferCancelReason): TransferCommand => ({
  type: 'CancelTransfer',
  data: { transferId: T, reason, now },
});
const requestCommit = (amountMinor?: bigint, when = now): TransferCommand => ({
  type: 'RequestCommit',
  data: { transferId: T, now: when, ...(amountMinor !== undefined && { amountMinor }) },
});
const requestVoid = (when = now): TransferCommand => ({ type: 'RequestVoid', data: { transferId: T, now: when } });
const expire = (when: Date): TransferCommand => ({ type: 'ExpireTransfer', data: { transferId: T, now: when } });

const immediateHeld = [requested(), heldEvt];
const pendingHeld = [requested('pending'), heldEvt];

describe('RequestTransfer', () => {
  it('records an immediate transfer, without expiry', () => {
    given([]).when(request()).then([requested()]);
  });

  it('records a pending transfer expiring after the default 300 s', () => {
    given([])
      .when(request({ mode: 'pending' }))
      .then([requested('pending', 300)]);
  });

  it('records a pending transfer with its own timeout, description and metadata', () => {
    const base = requested('pending', 60);
    given([])
      .when(request({ mode: 'pending', timeoutSeconds: 60, description: 'rent', metadata: { ref: 'x' } }))
      .then([{ ...base, data: { ...base.data, description: 'rent', metadata: { ref: 'x' } } } as TransferEvent]);
  });

  it('ignores timeoutSeconds for an immediate transfer', () => {
    given([])
      .when(request({ timeoutSeconds: 60 }))
      .then([requested()]);
  });

  it('is a no-op when the same transfer is requested again, later', () => {
    given([requested()])
      .when(request({ now: at(5) }))
      .thenNothingHappens();
    given([requested('pending', 60)])
      .when(request({ mode: 'pending', timeoutSeconds: 60, now: at(5) }))
      .thenNothingHappens();
    // A rejected transfer stays rejected.
    given([requested(), rejectedEvt()]).when(request()).thenNothingHappens();
  });

  it.each<[string, Partial<RequestData>]>([
    ['amount', { amountMinor: 101n }],
    ['destination', { destinationAccount: 'C' }],
    ['mode', { mode: 'pending' }],
    ['description', { description: 'other' }],
    ['metadata', { metadata: { a: 1 } }],
  ])('rejects re-requesting the id with a different %s', (_, overrides) => {
    given([requested()]).when(request(overrides)).thenRejects('TRANSFER_EXISTS');
  });

  it('rejects re-requesting a pending transfer with a different timeout', () => {
    given([requested('pending', 300)])
      .when(request({ mode: 'pending', timeoutSeconds: 60 }))
      .thenRejects('TRANSFER_EXISTS');
  });

  it.each<[string, Partial<RequestData>]>([
    ['source = destination', { destinationAccount: 'A' }],
    ['a zero amount', { amountMinor: 0n }],
    ['a negative amount', { amountMinor: -1n }],
    ['an amount above 2^63-1', { amountMinor: maxAmountMinor + 1n }],
    ['a bad currency', { currency: 'US' }],
    ['a bad transfer id', { transferId: '' }],
    ['a bad source account', { sourceAccount: 'a b' }],
    ['a zero timeout', { mode: 'pending', timeoutSeconds: 0 }],
    ['a timeout over 7 days', { mode: 'pending', timeoutSeconds: 604_801 }],
    ['a fractional timeout', { mode: 'pending', timeoutSeconds: 1.5 }],
    ['a description over 512 characters', { description: 'x'.repeat(513) }],
  ])('rejects %s', (_, overrides) => {
    given([]).when(request(overrides)).thenRejects('INVALID_COMMAND');
  });

  it('accepts the boundaries of amount, timeout and description', () => {
    given([])
      .when(request({ amountMinor: maxAmountMinor }))
      .thenState((s) => expect(s.status).toBe('REQUESTED'));
    given([])
      .when(request({ mode: 'pending', timeoutSeconds: 604_800, description: 'x'.repeat(512) }))
      .thenState((s) => expect(s.request?.expiresAt).toEqual(at(604_800)));
  });
});

describe('commands on a transfer that was never requested', () => {
  it.each<TransferCommand>([
    markHeld(),
    markCredited(),
    markCommitted(),
    reject(),
    cancel('VOIDED'),
    requestCommit(),
    requestVoid(),
    expire(now),
  ])('$type → TRANSFER_NOT_FOUND', (command) => {
    given([]).when(command).thenRejects('TRANSFER_NOT_FOUND');
  });

  it('rejects a command addressed to another transfer', () => {
    given([requested()])
      .when({ type: 'MarkHeld', data: { transferId: 'other', now } })
      .thenRejects('INVALID_COMMAND');
  });
});

describe('MarkHeld', () => {
  it('moves REQUESTED to HELD', () => {
    given([requested()]).when(markHeld()).then([heldEvt]);
  });

  it('is a no-op once the transfer was held, whatever happened since', () => {
    given(immediateHeld).when(markHeld()).thenNothingHappens();
    given([...immediateHeld, creditedEvt(), committedEvt()])
      .when(markHeld())
      .thenNothingHappens();
    given([...pendingHeld, voidRequested(), cancelledEvt('VOIDED')])
      .when(markHeld())
      .thenNothingHappens();
  });

  it('rejects holding a rejected transfer', () => {
    given([requested(), rejectedEvt()]).when(markHeld()).thenRejects('INVALID_TRANSITION');
  });
});

describe('MarkCredited', () => {
  it('credits the whole amount of an immediate transfer', () => {
    given(immediateHeld)
      .when(markCredited())
      .then([creditedEvt(100n)]);
  });

  it('credits the commit amount of a pending transfer', () => {
    given([...pendingHeld, commitRequested(40n)])
      .when(markCredited())
      .then([creditedEvt(40n)]);
  });

  it('is a no-op once credited', () => {
    given([...immediateHeld, creditedEvt()])
      .when(markCredited())
      .thenNothingHappens();
    given([...immediateHeld, creditedEvt(), committedEvt()])
      .when(markCredited())
      .thenNothingHappens();
  });

  it('rejects crediting before the hold', () => {
    given([requested()]).when(markCredited()).thenRejects('INVALID_TRANSITION');
  });

  it('rejects crediting a pending transfer without a commit decision', () => {
    given(pendingHeld).when(markCredited()).thenRejects('INVALID_TRANSITION');
    given([...pendingHeld, voidRequested()])
      .when(markCredited())
      .thenRejects('INVALID_TRANSITION');
  });

  it('rejects crediting a cancelled transfer', () => {
    given([...immediateHeld, cancelledEvt('CREDIT_FAILED')])
      .when(markCredited())
      .thenRejects('INVALID_TRANSITION');
  });
});

describe('MarkCommitted', () => {
  it('commits what was credited', () => {
    given([...immediateHeld, creditedEvt()])
      .when(markCommitted())
      .then([committedEvt(100n)]);
    given([...pendingHeld, commitRequested(40n), creditedEvt(40n)])
      .when(markCommitted())
      .then([committedEvt(40n)]);
  });

  it('is a no-op once committed', () => {
    given([...immediateHeld, creditedEvt(), committedEvt()])
      .when(markCommitted())
      .thenNothingHappens();
  });

  it('rejects committing before the credit', () => {
    given(immediateHeld).when(markCommitted()).thenRejects('INVALID_TRANSITION');
    given([requested()]).when(markCommitted()).thenRejects('INVALID_TRANSITION');
  });
});

describe('RejectTransfer', () => {
  it('rejects a requested transfer with the reason', () => {
    given([requested()])
      .when(reject('ACCOUNT_FROZEN'))
      .then([rejectedEvt('ACCOUNT_FROZEN')]);
  });

  it('is a no-op when already rejected for the same reason', () => {
    given([requested(), rejectedEvt('ACCOUNT_CLOSED')])
      .when(reject('ACCOUNT_CLOSED'))
      .thenNothingHappens();
  });

  it('rejects a different reason or a transfer past REQUESTED', () => {
    given([requested(), rejectedEvt('ACCOUNT_CLOSED')])
      .when(reject('INSUFFICIENT_FUNDS'))
      .thenRejects('INVALID_TRANSITION');
    given(immediateHeld).when(reject()).thenRejects('INVALID_TRANSITION');
    given([...immediateHeld, creditedEvt(), committedEvt()])
      .when(reject())
      .thenRejects('INVALID_TRANSITION');
  });
});

describe('CancelTransfer', () => {
  it('cancels a held immediate transfer whose credit failed', () => {
    given(immediateHeld)
      .when(cancel('CREDIT_FAILED'))
      .then([cancelledEvt('CREDIT_FAILED')]);
  });

  it('cancels a committed-to pending transfer whose credit failed', () => {
    given([...pendingHeld, commitRequested()])
      .when(cancel('CREDIT_FAILED'))
      .then([cancelledEvt('CREDIT_FAILED')]);
  });

  it('cancels a voided or expired pending transfer with the decision reason', () => {
    given([...pendingHeld, voidRequested('VOIDED')])
      .when(cancel('VOIDED'))
      .then([cancelledEvt('VOIDED')]);
    given([...pendingHeld, voidRequested('EXPIRED')])
      .when(cancel('EXPIRED'))
      .then([cancelledEvt('EXPIRED')]);
  });

  it('is a no-op when already cancelled for the same reason', () => {
    given([...pendingHeld, voidRequested(), cancelledEvt('VOIDED')])
      .when(cancel('VOIDED'))
      .thenNothingHappens();
  });

  it.each<[string, TransferEvent[], TransferCancelReason]>([
    ['a void without a void decision', pendingHeld, 'VOIDED'],
    ['an expiry after a void decision', [...pendingHeld, voidRequested('VOIDED')], 'EXPIRED'],
    ['a void after a commit decision', [...pendingHeld, commitRequested()], 'VOIDED'],
    ['a credit failure of an undecided pending transfer', pendingHeld, 'CREDIT_FAILED'],
    ['a credit failure after a void decision', [...pendingHeld, voidRequested()], 'CREDIT_FAILED'],
    ['a transfer that was never held', [requested()], 'CREDIT_FAILED'],
    ['a credited transfer', [...immediateHeld, creditedEvt()], 'CREDIT_FAILED'],
    ['a transfer cancelled for another reason', [...pendingHeld, voidRequested(), cancelledEvt('VOIDED')], 'EXPIRED'],
  ])('rejects %s', (_, history, reason) => {
    given(history).when(cancel(reason)).thenRejects('INVALID_TRANSITION');
  });
});

describe('RequestCommit', () => {
  it('records a commit of the whole amount by default', () => {
    given(pendingHeld)
      .when(requestCommit())
      .then([commitRequested(100n)]);
  });

  it('records a partial commit, down to one minor unit', () => {
    given(pendingHeld)
      .when(requestCommit(1n))
      .then([commitRequested(1n)]);
    given(pendingHeld)
      .when(requestCommit(100n))
      .then([commitRequested(100n)]);
  });

  it('rejects a commit amount of zero or above the held amount', () => {
    given(pendingHeld).when(requestCommit(0n)).thenRejects('INVALID_COMMAND');
    given(pendingHeld).when(requestCommit(101n)).thenRejects('INVALID_COMMAND');
  });

  it.each<[string, TransferEvent[]]>([
    ['an immediate transfer', immediateHeld],
    ['a pending transfer not yet held', [requested('pending')]],
    ['a transfer already committed to', [...pendingHeld, commitRequested()]],
    ['a transfer already voided', [...pendingHeld, voidRequested()]],
    ['a committed transfer', [...pendingHeld, commitRequested(), creditedEvt(), committedEvt()]],
    ['a rejected transfer', [requested('pending'), rejectedEvt()]],
  ])('answers TRANSFER_NOT_PENDING for %s', (_, history) => {
    given(history).when(requestCommit()).thenRejects('TRANSFER_NOT_PENDING');
  });

  it('answers TRANSFER_NOT_PENDING once the timeout has passed, even before the reconciler ran', () => {
    given(pendingHeld)
      .when(requestCommit(undefined, at(300)))
      .thenRejects('TRANSFER_NOT_PENDING');
    given(pendingHeld)
      .when(requestCommit(undefined, new Date(at(300).getTime() - 1)))
      .then([commitRequested(100n, new Date(at(300).getTime() - 1))]);
  });
});

describe('RequestVoid', () => {
  it('records a void decision', () => {
    given(pendingHeld)
      .when(requestVoid())
      .then([voidRequested('VOIDED')]);
  });

  it.each<[string, TransferEvent[]]>([
    ['an immediate transfer', immediateHeld],
    ['a pending transfer not yet held', [requested('pending')]],
    ['a transfer already committed to', [...pendingHeld, commitRequested()]],
    ['a transfer already voided', [...pendingHeld, voidRequested()]],
    ['a transfer already expiring', [...pendingHeld, voidRequested('EXPIRED')]],
    ['a cancelled transfer', [...pendingHeld, voidRequested(), cancelledEvt('VOIDED')]],
  ])('answers TRANSFER_NOT_PENDING for %s', (_, history) => {
    given(history).when(requestVoid()).thenRejects('TRANSFER_NOT_PENDING');
  });

  it('answers TRANSFER_NOT_PENDING once the timeout has passed', () => {
    given(pendingHeld)
      .when(requestVoid(at(301)))
      .thenRejects('TRANSFER_NOT_PENDING');
  });
});

describe('ExpireTransfer', () => {
  it('records the expiry decision of a held, undecided pending transfer at or after its timeout', () => {
    given(pendingHeld)
      .when(expire(at(300)))
      .then([voidRequested('EXPIRED', at(300))]);
    given(pendingHeld)
      .when(expire(at(9999)))
      .then([voidRequested('EXPIRED', at(9999))]);
  });

  it.each<[string, TransferEvent[], Date]>([
    ['one millisecond before the timeout', pendingHeld, new Date(at(300).getTime() - 1)],
    ['an immediate transfer', immediateHeld, at(9999)],
    ['a pending transfer not yet held', [requested('pending')], at(9999)],
    ['a transfer already committed to', [...pendingHeld, commitRequested()], at(9999)],
    ['a transfer already voided', [...pendingHeld, voidRequested()], at(9999)],
    ['a transfer already expiring', [...pendingHeld, voidRequested('EXPIRED')], at(9999)],
    ['a cancelled transfer', [...pendingHeld, voidRequested(), cancelledEvt('VOIDED')], at(9999)],
    ['a rejected transfer', [requested('pending'), rejectedEvt()], at(9999)],
  ])('is a no-op for %s', (_, history, when) => {
    given(history).when(expire(when)).thenNothingHappens();
  });
});

describe('state', () => {
  const fold = (events: TransferEvent[]) => events.reduce(evolveTransfer, initialTransferState());

  it('records every step of an immediate transfer with its time', () => {
    const state = fold([
      requested(),
      { type: 'TransferHeld', data: { transferId: T, at: at(1) } },
      creditedEvt(100n, at(2)),
      committedEvt(100n, at(3)),
    ]);
    expect(state.status).toBe('COMMITTED');
    expect(state.steps).toEqual([
      { status: 'REQUESTED', at: t0 },
      { status: 'HELD', at: at(1) },
      { status: 'CREDITED', at: at(2) },
      { status: 'COMMITTED', at: at(3) },
    ]);
    expect(state.creditedMinor).toBe(100n);
    expect(state.committedMinor).toBe(100n);
    expect(state.updatedAt).toEqual(at(3));
    expect(state.reason).toBeNull();
  });

  it('keeps decisions out of the steps but in the state', () => {
    const state = fold([...pendingHeld, commitRequested(40n, at(7))]);
    expect(state.status).toBe('HELD');
    expect(state.steps.map((s) => s.status)).toEqual(['REQUESTED', 'HELD']);
    expect(state.decision).toEqual({ kind: 'commit', amountMinor: 40n, at: at(7) });
    expect(creditAmountMinor(state)).toBe(40n);
    expect(state.updatedAt).toEqual(at(7));
  });

  it('keeps the reason of a rejected or cancelled transfer', () => {
    expect(fold([requested(), rejectedEvt('ACCOUNT_FROZEN')]).reason).toBe('ACCOUNT_FROZEN');
    const cancelled = fold([...pendingHeld, voidRequested('EXPIRED'), cancelledEvt('EXPIRED')]);
    expect(cancelled).toMatchObject({
      status: 'CANCELLED',
      reason: 'EXPIRED',
      decision: { kind: 'void', reason: 'EXPIRED' },
    });
  });

  it('knows the credit amount and expirability', () => {
    expect(creditAmountMinor(initialTransferState())).toBeNull();
    expect(creditAmountMinor(fold(immediateHeld))).toBe(100n);
    expect(creditAmountMinor(fold(pendingHeld))).toBeNull();
    expect(isExpirable(fold(pendingHeld), at(300))).toBe(true);
    expect(isExpirable(fold(pendingHeld), at(299))).toBe(false);
    expect(isExpirable(fold(immediateHeld), at(9999))).toBe(false);
  });

  it('knows the terminal statuses', () => {
    expect(['COMMITTED', 'REJECTED', 'CANCELLED'].every((s) => isTerminalTransferStatus(s as 'COMMITTED'))).toBe(true);
    expect(['NONE', 'REQUESTED', 'HELD', 'CREDITED'].some((s) => isTerminalTransferStatus(s as 'HELD'))).toBe(false);
  });
});
