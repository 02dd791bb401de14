/**
 * Readiness: each dependency the API needs, probed with a time limit so a hung one is
 * reported DOWN instead of hanging the probe. GET /health/ready and the seed's actuator
 * route both answer from here.
 */
import { DeadlineExceeded, withDeadline } from '../deadline';
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

export type ComponentName = 'database' | 'eventStore' | 'redis';

export interface Readiness {
  status: HealthStatus;
  components: Partial<Record<ComponentName, ComponentHealth>>;
}

type HealthContext = Pick<ApiContext, 'pool' | 'store' | 'redis' | 'logger'>;

/** Probes every dependency at once; UP only when all of them are. */
export async function checkReadiness(ctx: HealthContext, timeoutMs = healthProbeTimeoutMs): Promise<Readiness> {
  const log = ctx.logger.child({ component: 'health' });
  const probes: [ComponentName, () => Promise<unknown>][] = [
    ['database', () => ctx.pool.query('select 1')],
    ['eventStore', () => ctx.store.headPosition()],
  ];
  const { redis } = ctx;
  if (redis !== undefined) probes.push(['redis', () => redis.ping()]);
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
    status: results.every(([, health]) => health.status === 'UP') ? 'UP' : 'DOWN',
    components: Object.fromEntries(results),
  };
}

/** 200 when ready, 503 otherwise: what load balancers and orchestrators act on. */
export function readinessStatusCode(readiness: Readiness): number {
  return readiness.status === 'UP' ? 200 : 503;
}
