import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { EventStoreDbEventStore } from '../../src/eventstore/esdb';
import { eventStoreDbAvailability, eventStoreDbHowToRun } from '../support/services';
import { describeEventStoreContract } from './eventstore.contract';

/**
 * Runs the contract against EventStoreDB when one is reachable: EVENTSTORE_URL, or else a
 * container that testcontainers starts on a Docker engine. Otherwise it is reported skipped.
 */
const eventStoreImage = process.env.EVENTSTORE_IMAGE ?? 'eventstore/eventstore:24.10';
const eventStorePort = 2113;
const containerStartupTimeoutMs = 120_000;

// Decided at load time, so that jest can report the suite as skipped.
const { url: eventStoreUrl, docker: useDocker, skipReason } = eventStoreDbAvailability();

if (skipReason) {
  console.warn(`EventStoreDB contract tests skipped: ${skipReason} — ${eventStoreDbHowToRun} to run them`);
  describe('EventStore contract: EventStoreDB', () => {
    it.skip(`EventStoreDB contract skipped: ${skipReason} — ${eventStoreDbHowToRun}`, () => undefined);
  });
} else {
  if (useDocker) jest.setTimeout(containerStartupTimeoutMs);
  describeEventStoreContract('EventStoreDB', async () => {
    let container: StartedTestContainer | undefined;
    let url = eventStoreUrl;
    if (!url) {
      container = await new GenericContainer(eventStoreImage)
        .withEnvironment({
          EVENTSTORE_INSECURE: 'true',
          EVENTSTORE_RUN_PROJECTIONS: 'None',
          EVENTSTORE_MEM_DB: 'true',
          EVENTSTORE_CLUSTER_SIZE: '1',
        })
        .withExposedPorts(eventStorePort)
        .withWaitStrategy(Wait.forHttp('/health/live', eventStorePort).forStatusCodeMatching((s) => s < 300))
        .withStartupTimeout(containerStartupTimeoutMs)
        .start();
      url = `esdb://${container.getHost()}:${container.getMappedPort(eventStorePort)}?tls=false`;
    }
    // The contract names its streams `contract_<id>-<name>`; a shared server holds other data too.
    const store = new EventStoreDbEventStore(url, { streamPrefixes: ['contract_'] });
    return {
      store,
      async dispose() {
        await store.close();
        await container?.stop();
      },
    };
  });
}
