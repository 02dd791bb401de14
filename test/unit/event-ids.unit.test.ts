import { deterministicEventId } from '../../src/commands/event-ids';

// Stored events carry these ids: a process that retries a step after an upgrade must derive
// the very same id, or the store would keep the step twice. These values must never change.
test.each([
  [['t-1', 'held'], 'ddfa9a05-6612-58dc-b3eb-7ec64cbaaf58'],
  [['transfer é ü', 'credited', 'x'], 'a8692799-eb35-5f46-b165-5dcda13761d3'],
  [[''], 'f7dd3d9b-65a7-5552-8c44-0f96c69c4035'],
])('%j always names the same event: %s', (parts, id) => {
  expect(deterministicEventId(...parts)).toBe(id);
});

test('is a version 5 UUID, and different names give different ids', () => {
  const a = deterministicEventId('t-1', 'held');
  expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(deterministicEventId('t-1', 'credited')).not.toBe(a);
  // The separator keeps part boundaries: ("a", "bc") is not ("ab", "c").
  expect(deterministicEventId('a', 'bc')).not.toBe(deterministicEventId('ab', 'c'));
});
