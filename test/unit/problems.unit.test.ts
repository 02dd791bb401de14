import { toProblem } from '../../src/api/problems';
import { Overloaded } from '../../src/commands/group-commit';

test('a full ingress queue is 503 OVERLOADED, saying to retry', () => {
  expect(toProblem(new Overloaded(20_000))).toEqual(
    expect.objectContaining({ status: 503, code: 'OVERLOADED', detail: expect.stringMatching(/retry/) }),
  );
});
