/**
 * One process, one registry: every metric lives in prom-client's default registry, which
 * GET /metrics exposes. Metrics are defined once, at module load, by the module that owns them.
 */
import { collectDefaultMetrics, register } from 'prom-client';

export const metricsRegistry = register;

/**
 * Node's own metrics (CPU, memory, event-loop lag, GC, handles), registered on first call.
 * Registering them twice would throw, and a process may build several apps (tests do).
 */
export function collectProcessMetrics(): void {
  if (register.getSingleMetric('process_cpu_seconds_total') !== undefined) return;
  collectDefaultMetrics({ register });
}
