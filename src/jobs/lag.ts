/**
 * Lag watch: the transfer process, every projection and (when configured) the Kafka bridge
 * against RECONCILE_LAG_MAX_SECONDS, by the age of the oldest event each has not yet
 * handled. An alarm gauge per subscriber, and a problem for each one behind.
 */
import { subscriberLags } from '../metrics/subscriber-lag';
import type { JobContext } from './context';
import { lagAlarm } from './metrics';
import { Findings, type JobReport } from './report';

export async function lagWatch(ctx: JobContext): Promise<JobReport> {
  const findings = new Findings();
  const lags = await subscriberLags({ store: ctx.store, pool: ctx.pool, bridge: ctx.bridge });
  for (const lag of lags) {
    const subscriber = `${lag.kind}:${lag.label}`;
    const behind = lag.seconds > ctx.settings.lagMaxSeconds;
    lagAlarm.set({ subscriber }, behind ? 1 : 0);
    findings.set(`${subscriber} seconds`, Math.round(lag.seconds * 10) / 10);
    findings.set(`${subscriber} positions`, lag.positions);
    if (!behind) continue;
    findings.problem({
      kind: 'lag',
      subject: subscriber,
      message: `${subscriber} is ${Math.round(lag.seconds)} s (${lag.positions} positions) behind the event store; the limit is ${ctx.settings.lagMaxSeconds} s`,
      details: { seconds: lag.seconds, positions: lag.positions, maxSeconds: ctx.settings.lagMaxSeconds },
    });
  }
  return findings.report();
}
