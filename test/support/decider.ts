import { inspect } from 'node:util';
import { DomainError, type DomainErrorCode } from '../../src/domain/errors';

/** A decider as in Emmett: pure decide / evolve over an initial state. */
export interface Decider<Command, Event, State> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
}

export interface Then<Event, State> {
  /** The command yields exactly these events (and they fold without breaking an invariant). */
  then(expected: Event[]): void;
  /** The command is a no-op: an idempotent repeat or a step that does not apply. */
  thenNothingHappens(): void;
  /** The command is rejected with a DomainError of this code. */
  thenRejects(code: DomainErrorCode): void;
  /** The state after folding the given events and the command's events. */
  thenState(check: (state: State) => void): void;
}

/**
 * Given / When / Then over plain events:
 *   const { given } = specFor(accountDecider);
 *   given([opened(), credited('t0', 100n)]).when(hold('t1', 150n)).thenRejects('INSUFFICIENT_FUNDS');
 */
export function specFor<Command, Event, State>(decider: Decider<Command, Event, State>) {
  const fold = (state: State, events: readonly Event[]): State =>
    events.reduce((acc, event) => decider.evolve(acc, event), state);

  return {
    given(events: readonly Event[]) {
      return {
        when(command: Command): Then<Event, State> {
          // Each assertion folds afresh: evolve grows some state in place (see AccountState).
          const run = (): { state: State; produced: Event[] } => {
            const state = fold(decider.initialState(), events);
            return { state, produced: decider.decide(command, state) };
          };
          return {
            then(expected) {
              const { state, produced } = run();
              expect(produced).toEqual(expected);
              fold(state, produced);
            },
            thenNothingHappens() {
              expect(run().produced).toEqual([]);
            },
            thenRejects(code) {
              let thrown: unknown;
              try {
                const { produced } = run();
                thrown = new Error(`expected ${code}, got events ${inspect(produced, { depth: 5 })}`);
              } catch (error) {
                thrown = error;
              }
              if (!(thrown instanceof DomainError)) throw thrown;
              expect(thrown.code).toBe(code);
            },
            thenState(check) {
              const { state, produced } = run();
              check(fold(state, produced));
            },
          };
        },
      };
    },
  };
}
