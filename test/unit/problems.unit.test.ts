import { toProblem } from '../../src/api/problems';
import { Overloaded } from '../../src/commands/group-commit';

test('an overloaded ingress is 503 OVERLOADED, saying to retry', () => {
  expect(toProblem(new Overloaded('20000 items are already waiting to be written'))).toEqual(
    expect.objectContaining({ status: 503, code: 'OVERLOADED', detail: expect.stringMatching(/retry/) }),
  );
});
