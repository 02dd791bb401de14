import { spawnSync } from 'node:child_process';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { EventStoreDbEventStore } from '../../src/eventstore/esdb';
import { describeEventStoreContract } from './eventstore.contract';

/**
 * Runs the contract against EventStoreDB when one is reachable: EVENTSTORE_URL, or else a
 * container that testcontainers starts on a Docker engine. Otherwise it is reported skipped.
 */
const eventStoreImage = process.env.EVENTSTORE_IMAGE ?? 'eventstore/eventstore:24.10';
const eventStorePort = 2113;
const dockerInfoTimeoutMs = 5_000;
const containerStartupTimeoutMs = 120_000;
const howToRun = 'set EVENTSTORE_URL=esdb://localhost:2113?tls=false, or run a Docker engine';

/** Decided at load time, so that jest can report the suite as skipped. */
function dockerEngineAnswers(): boolean {
  const result = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: dockerInfoTimeoutMs });
  return result.status === 0;
}

const eventStoreUrl = process.env.EVENTSTORE_URL;
const useDocker = !eventStoreUrl && dockerEngineAnswers();

if (!eventStoreUrl && !useDocker) {
  const why = 'no EVENTSTORE_URL and no Docker engine';
  console.warn(`EventStoreDB contract tests skipped: ${why} — ${howToRun} to run them`);
  describe('EventStore contract: EventStoreDB', () => {
    it.skip(`EventStoreDB contract skipped: ${why} — ${howToRun}`, () => undefined);
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
