/**
 * Operations (API.md): liveness, readiness and Prometheus metrics, public and outside /v1
 * so orchestrators and scrapers need no API key; the seed's Spring-style actuator health,
 * which answers from the same probes and, under /api/v1, is behind access control; and the
 * AsyncAPI document of what the Kafka bridge publishes, public like /openapi.json.
 */
import type { Router } from 'express';
import { type AsyncApiSettings, asyncApiDocument, asyncApiPath } from '../../integration/asyncapi';
import { integrationEventTypes } from '../../integration/messages';
import { defaultCloudEventsSource, defaultPartitions, defaultTopics } from '../../integration/settings';
import { collectProcessMetrics, metricsRegistry, renderMetrics } from '../../metrics/registry';
import type { ApiContext } from '../context';
import { checkReadiness, type ComponentName, type Readiness, readinessStatusCode } from '../health';

/** Spring Boot's names for the components, which the seed's clients know. */
const actuatorNames: Record<ComponentName, string> = {
  database: 'db',
  eventStore: 'eventStore',
  redis: 'redis',
  bridge: 'kafka',
};

/** With the bridge off, the contract it would publish by default: consumers can read it before it is on. */
const defaultBridgeContract: AsyncApiSettings = {
  topics: defaultTopics,
  partitions: defaultPartitions,
  source: defaultCloudEventsSource,
  eventTypes: integrationEventTypes,
};

export function operationsRoutes(router: Router, ctx: ApiContext): void {
  collectProcessMetrics();

  // The process answers: nothing else is checked, so a slow dependency never gets it restarted.
  router.get('/health/live', (_req, res) => {
    res.json({ status: 'UP' });
  });

  router.get('/health/ready', async (_req, res) => {
    const readiness = await checkReadiness(ctx);
    res.status(readinessStatusCode(readiness)).json(readiness);
  });

  router.get('/metrics', async (_req, res) => {
    const text = await renderMetrics();
    res.set('Content-Type', metricsRegistry.contentType).send(text);
  });

  router.get('/api/v1/actuator/health', async (_req, res) => {
    const readiness = await checkReadiness(ctx);
    res.status(readinessStatusCode(readiness)).json(actuatorHealth(readiness));
  });

  // Built once: it depends only on the code and the settings.
  // Broker addresses stay out of this public document.
  const asyncApiJson = JSON.stringify(
    asyncApiDocument({ ...(ctx.bridge ?? defaultBridgeContract), brokers: undefined }),
  );
  router.get(asyncApiPath, (_req, res) => {
    res.type('application/json').send(asyncApiJson);
  });
}

/** Spring's shape without details (its default): each component's status only. */
function actuatorHealth(readiness: Readiness) {
  const components: Record<string, { status: string }> = {};
  for (const [name, health] of Object.entries(readiness.components) as [ComponentName, { status: string }][]) {
    components[actuatorNames[name]] = { status: health.status };
  }
  return { status: readiness.status, components };
}
