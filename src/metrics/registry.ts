/**
 * One registry per thread: every metric lives in prom-client's default registry, defined
 * once, at module load, by the module that owns it. GET /metrics renders the main thread's
 * registry merged with what each worker thread reports (src/workers), counters and
 * histograms summed per label set.
 */
import {
  AggregatorRegistry,
  collectDefaultMetrics,
  type MetricObjectWithValues,
  type MetricValue,
  register,
} from 'prom-client';

export const metricsRegistry = register;

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Another thread's metrics; it answers within a bounded time, with [] when it cannot. */
export type MetricsSource = () => Promise<MetricsSnapshot>;

const sources = new Set<MetricsSource>();

/** Adds a source to every scrape until the returned function removes it. */
export function addMetricsSource(source: MetricsSource): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

/** The Prometheus text of this thread's metrics and every source's. */
export async function renderMetrics(): Promise<string> {
  if (sources.size === 0) return register.metrics();
  const reports = await Promise.all([...sources].map((source) => source().catch((): MetricsSnapshot => [])));
  const own = (await register.getMetricsAsJSON()) as MetricsSnapshot;
  return AggregatorRegistry.aggregate([own, ...reports]).metrics();
}

/**
 * Node's own metrics (CPU, memory, event-loop lag, GC, handles), registered on first call.
 * Registering them twice would throw, and a process may build several apps (tests do).
 */
export function collectProcessMetrics(): void {
  if (register.getSingleMetric('process_cpu_seconds_total') !== undefined) return;
  collectDefaultMetrics({ register });
}
