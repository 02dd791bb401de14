/**
 * Readiness: each dependency the API needs, probed with a time limit so a hung one is
 * reported DOWN instead of hanging the probe. GET /health/ready and the seed's actuator
 * route both answer from here.
 *
 * The Kafka bridge (when on) is reported but never makes the service unready: the API
 * keeps taking transfers while the broker is away, and the bridge publishes them when it
 * is back. Taking every instance out of a load balancer would only turn a late feed into
 * an outage of payments.
 */
import { DeadlineExceeded, withDeadline } from '../deadline';
import { readBridgeOwnership } from '../integration/status';
import type { ApiContext } from './context';

/** Each probe gets this long before its dependency counts as down. */
export const healthProbeTimeoutMs = 2_000;

export type HealthStatus = 'UP' | 'DOWN';

export interface ComponentHealth {
  status: HealthStatus;
  durationMs: number;
  /** Why it is down; the cause itself is logged, never sent. */
  error?: 'TIMEOUT' | 'UNAVAILABLE';
}

export type ComponentName = 'database' | 'eventStore' | 'redis' | 'bridge';

/** Reported, but not part of readiness (see above). */
const informational: ReadonlySet<ComponentName> = new Set(['bridge']);

export interface Readiness {
  status: HealthStatus;
  components: Partial<Record<ComponentName, ComponentHealth>>;
}

type HealthContext = Pick<ApiContext, 'pool' | 'store' | 'redis' | 'logger' | 'bridge'>;

/** Some instance holds the bridge, and its last produce reached the broker (or it has not produced yet). */
async function bridgeProbe(ctx: HealthContext): Promise<void> {
  const status = await readBridgeOwnership(ctx.pool);
  if (!status.running) throw new Error('no instance holds the Kafka bridge');
  if (status.brokerUp === false) throw new Error(`the Kafka broker is unreachable: ${status.lastError ?? ''}`);
}

/** Probes every dependency at once; UP only when all of them are. */
export async function checkReadiness(ctx: HealthContext, timeoutMs = healthProbeTimeoutMs): Promise<Readiness> {
  const log = ctx.logger.child({ component: 'health' });
  const probes: [ComponentName, () => Promise<unknown>][] = [
    ['database', () => ctx.pool.query('select 1')],
    ['eventStore', () => ctx.store.headPosition()],
  ];
  const { redis } = ctx;
  if (redis !== undefined) probes.push(['redis', () => redis.ping()]);
  if (ctx.bridge !== undefined) probes.push(['bridge', () => bridgeProbe(ctx)]);
  const results = await Promise.all(
    probes.map(async ([name, check]): Promise<[ComponentName, ComponentHealth]> => {
      const started = performance.now();
      const durationMs = () => Math.round(performance.now() - started);
      try {
        await withDeadline(check(), timeoutMs, `${name} health probe`);
        return [name, { status: 'UP', durationMs: durationMs() }];
      } catch (err) {
        log.warn({ err, dependency: name }, 'dependency is down');
        const error = err instanceof DeadlineExceeded ? 'TIMEOUT' : 'UNAVAILABLE';
        return [name, { status: 'DOWN', durationMs: durationMs(), error }];
      }
    }),
  );
  return {
    status: results.every(([name, health]) => informational.has(name) || health.status === 'UP') ? 'UP' : 'DOWN',
    components: Object.fromEntries(results),
  };
}

/** 200 when ready, 503 otherwise: what load balancers and orchestrators act on. */
export function readinessStatusCode(readiness: Readiness): number {
  return readiness.status === 'UP' ? 200 : 503;
}
