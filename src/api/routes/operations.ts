/**
 * Operations (API.md): liveness, readiness and Prometheus metrics, public and outside /v1
 * so orchestrators and scrapers need no API key; and the seed's Spring-style actuator
 * health, which answers from the same probes and, under /api/v1, is behind access control.
 */
import type { Router } from 'express';
import { collectProcessMetrics, metricsRegistry, renderMetrics } from '../../metrics/registry';
import type { ApiContext } from '../context';
import { checkReadiness, type ComponentName, type Readiness, readinessStatusCode } from '../health';

/** Spring Boot's names for the components, which the seed's clients know. */
const actuatorNames: Record<ComponentName, string> = { database: 'db', eventStore: 'eventStore', redis: 'redis' };

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
}

/** Spring's shape without details (its default): each component's status only. */
function actuatorHealth(readiness: Readiness) {
  const components: Record<string, { status: string }> = {};
  for (const [name, health] of Object.entries(readiness.components) as [ComponentName, { status: string }][]) {
    components[actuatorNames[name]] = { status: health.status };
  }
  return { status: readiness.status, components };
}
