import { type EventStore, MultiStreamAppendUnsupported } from '../../src/eventstore/port';

/**
 * The PostgreSQL store seen as a store without multi-stream append (like EventStoreDB),
 * so the step-by-step paths run here too.
 */
export function withoutMultiStreamAppend(store: EventStore): EventStore {
  return {
    capabilities: { multiStreamAppend: false },
    append: (...args) => store.append(...args),
    appendMultiple: async () => {
      throw new MultiStreamAppendUnsupported('test store');
    },
    readStream: (...args) => store.readStream(...args),
    readAll: (...args) => store.readAll(...args),
    headPosition: () => store.headPosition(),
    subscribe: (options) => store.subscribe(options),
    close: () => store.close(),
  };
}
