import { WrongExpectedVersionError, type RecordedEvent as EsdbRecordedEvent } from '@eventstore/db-client';
import {
  fromEsdbCurrentRevision,
  fromEsdbExpectedRevision,
  fromEsdbPosition,
  isLedgerEvent,
  toEsdbExpectedRevision,
  toEsdbPosition,
  toRecordedEvent,
  toWrongExpectedRevision,
} from '../../src/eventstore/esdb';
import { ANY, NO_STREAM, STREAM_EXISTS, WrongExpectedRevision } from '../../src/eventstore/port';

describe('EventStoreDB mapping', () => {
  describe('expected revision', () => {
    it.each([
      [NO_STREAM, 'no_stream'],
      [STREAM_EXISTS, 'stream_exists'],
      [ANY, 'any'],
      [0n, 0n],
      [42n, 42n],
    ] as const)('%p maps to %p and back', (port, esdb) => {
      expect(toEsdbExpectedRevision(port)).toBe(esdb);
      expect(fromEsdbExpectedRevision(esdb)).toBe(port);
    });

    it('refuses a negative exact revision', () => {
      expect(() => toEsdbExpectedRevision(-1n)).toThrow(RangeError);
    });

    it("reads the server's raw numbers from the client's legacy error path", () => {
      expect(fromEsdbExpectedRevision(-1n)).toBe(NO_STREAM);
      expect(fromEsdbExpectedRevision(-2n)).toBe(ANY);
      expect(fromEsdbExpectedRevision(-4n)).toBe(STREAM_EXISTS);
      expect(() => fromEsdbExpectedRevision(-3n)).toThrow(RangeError);
    });

    it('reads the actual revision: no stream or a revision', () => {
      expect(fromEsdbCurrentRevision('no_stream')).toBe(NO_STREAM);
      expect(fromEsdbCurrentRevision(-1n)).toBe(NO_STREAM);
      expect(fromEsdbCurrentRevision(0n)).toBe(0n);
      expect(fromEsdbCurrentRevision(7n)).toBe(7n);
    });
  });

  describe('WrongExpectedVersionError → WrongExpectedRevision', () => {
    const wrong = (expected: 'no_stream' | 'stream_exists' | 'any' | bigint, current: 'no_stream' | bigint) =>
      toWrongExpectedRevision(new WrongExpectedVersionError(undefined, { streamName: 'account-A', expected, current }));

    it('keeps the stream, expected and actual revisions', () => {
      const err = wrong(1n, 2n);
      expect(err).toBeInstanceOf(WrongExpectedRevision);
      expect(err).toMatchObject({ streamName: 'account-A', expected: 1n, actual: 2n });
      expect(err.message).toBe('stream account-A: expected revision 1, actual 2');
    });

    it("maps an actual 'no_stream' to NO_STREAM", () => {
      expect(wrong(STREAM_EXISTS, 'no_stream')).toMatchObject({ expected: STREAM_EXISTS, actual: NO_STREAM });
      expect(wrong(0n, 'no_stream')).toMatchObject({ expected: 0n, actual: NO_STREAM });
    });

    it('maps a conflict on stream creation', () => {
      expect(wrong(NO_STREAM, 1n)).toMatchObject({ expected: NO_STREAM, actual: 1n });
    });
  });

  describe('positions', () => {
    it('resumes from the commit position, with prepare == commit', () => {
      expect(toEsdbPosition(0n)).toEqual({ commit: 0n, prepare: 0n });
      expect(toEsdbPosition(123_456n)).toEqual({ commit: 123_456n, prepare: 123_456n });
      expect(() => toEsdbPosition(-1n)).toThrow(RangeError);
    });

    it('takes the commit position as the global position', () => {
      expect(fromEsdbPosition({ commit: 500n, prepare: 480n }, 'e')).toBe(500n);
      expect(fromEsdbPosition(toEsdbPosition(99n), 'e')).toBe(99n);
    });

    it('refuses a missing or "unknown" position rather than inventing one', () => {
      expect(() => fromEsdbPosition(undefined, 'the append')).toThrow(/position of the append/);
      expect(() => fromEsdbPosition({ commit: 2n ** 64n - 1n, prepare: 2n ** 64n - 1n }, 'e')).toThrow(/22\.6/);
    });
  });

  describe('recorded events', () => {
    const created = new Date('2024-05-01T12:00:00Z');
    const recorded = (over: Partial<Record<string, unknown>> = {}) =>
      ({
        streamId: 'account-A',
        id: '6f1c0b2e-8f7a-4c39-9d61-2a3b4c5d6e7f',
        isJson: true,
        revision: 3n,
        type: 'FundsCredited',
        created,
        data: { amountMinor: '100' },
        metadata: { correlationId: 'c1' },
        position: { commit: 900n, prepare: 900n },
        ...over,
      }) as EsdbRecordedEvent;

    it('maps every field, bigint revision and position', () => {
      expect(toRecordedEvent(recorded())).toEqual({
        id: '6f1c0b2e-8f7a-4c39-9d61-2a3b4c5d6e7f',
        type: 'FundsCredited',
        data: { amountMinor: '100' },
        metadata: { correlationId: 'c1' },
        streamName: 'account-A',
        revision: 3n,
        position: 900n,
        createdAt: created,
      });
    });

    it('reads absent metadata as {}', () => {
      expect(toRecordedEvent(recorded({ metadata: undefined })).metadata).toEqual({});
    });

    it('refuses data that is not a JSON object', () => {
      expect(() => toRecordedEvent(recorded({ isJson: false, data: new Uint8Array([1]) }))).toThrow(/JSON object/);
      expect(() => toRecordedEvent(recorded({ data: [1, 2] }))).toThrow(/JSON object/);
    });
  });

  it("keeps the ledger's streams and drops system streams and events", () => {
    const prefixes = ['account-', 'transfer-'];
    expect(isLedgerEvent('account-A', 'FundsCredited', prefixes)).toBe(true);
    expect(isLedgerEvent('transfer-t1', 'TransferRequested', prefixes)).toBe(true);
    expect(isLedgerEvent('other-x', 'Something', prefixes)).toBe(false);
    expect(isLedgerEvent('$$account-A', '$metadata', prefixes)).toBe(false);
    expect(isLedgerEvent('account-A', '$>', prefixes)).toBe(false);
  });
});
