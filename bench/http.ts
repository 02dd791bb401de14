/**
 * npm run bench:http — the whole service over HTTP on this machine: committed transfers/s
 * and accept latency (request → 201/202 response) for single transfers (POST /v1/transfers)
 * and for the batch route (POST /v1/transfers/batch), uniform over BENCH_ACCOUNTS (10,000)
 * accounts and from one hot source account. A benchmark, not a test.
 *
 * The service runs as `npm start` runs it (dist/src/main.js, a process of its own) on a
 * scratch database, open (no API keys) and without rate limits; autocannon drives it from
 * this process. Each phase offers load for BENCH_SECONDS (10 s), then waits (at most 120 s)
 * until every transfer it requested is terminal. Committed/s is the phase's COMMITTED
 * transfers over the time from its first request to its last commit, read from the event
 * store. Accept latency is autocannon's, per request (a batch request accepts many).
 * Also printed per phase: the CPU the service, PostgreSQL and this load generator spent per
 * committed transfer (from /proc), which says how far the machine is from a target when the
 * machine is the limit, and whether a change made a transfer cheaper when run-to-run noise
 * hides it in the rate.
 * BENCH_SERVICE_NODE_ARGS passes node flags to the service (e.g. `--cpu-prof`); BENCH_PHASES
 * picks phases by the start of their names (e.g. `single|batch of 500, hot`).
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import type { Pool } from 'pg';
import { cpuSecondsSince, cpuTicks, envNumber, fmt, isPostgres, machineCpu } from './common';
import { withScratchDatabase } from './scratch-database';
import { drained, drainLimitMs, headPosition, type Service, setUp, startService, transferBody } from './service';

const phaseSeconds = envNumber('BENCH_SECONDS', 10, 1, 3_600);
const accountCount = envNumber('BENCH_ACCOUNTS', 10_000, 2, 1_000_000);
const singleConnections = envNumber('BENCH_CONNECTIONS', 64, 1, 10_000);
const batchConnections = 4;
const batchSize = 500;
const singleTarget = 2_500;
const singleP99TargetMs = 50;
const batchTarget = 15_000;

interface Phase {
  name: string;
  route: '/v1/transfers' | '/v1/transfers/batch';
  hot: boolean;
  connections: number;
  committedTarget: number;
  p99TargetMs?: number;
}

async function runPhase(service: Service, pool: Pool, phase: Phase): Promise<void> {
  const from = await headPosition(pool);
  const isService = (pid: number) => pid === service.child.pid;
  const cpuAtStart = {
    service: cpuTicks(isService),
    pg: cpuTicks(isPostgres),
    bench: process.cpuUsage(),
    machine: machineCpu(),
  };
  const startedMs = Date.now();
  const body = () =>
    JSON.stringify(
      phase.route === '/v1/transfers'
        ? transferBody(phase.hot, accountCount)
        : { transfers: Array.from({ length: batchSize }, () => transferBody(phase.hot, accountCount)) },
    );
  const result = await autocannon({
    url: `${service.url}${phase.route}`,
    method: 'POST',
    connections: phase.connections,
    duration: phaseSeconds,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: body() }),
      },
    ],
  });
  const s = await drained(pool, from);
  const cpuMs = (seconds: number) => ((seconds * 1000) / Math.max(1, s.committed)).toFixed(2);
  const benchCpu = process.cpuUsage(cpuAtStart.bench);
  const machine = machineCpu();
  const seconds = Math.max(s.lastCommitMs - startedMs, 1) / 1000;
  const committedPerSecond = s.committed / seconds;
  const met =
    committedPerSecond >= phase.committedTarget &&
    (phase.p99TargetMs === undefined || result.latency.p99 <= phase.p99TargetMs);
  console.log(
    `${phase.name.padEnd(30)} ${fmt(committedPerSecond).padStart(7)} committed/s  accept p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms` +
      `  (target ≥ ${fmt(phase.committedTarget)}${phase.p99TargetMs === undefined ? '' : `, p99 ≤ ${phase.p99TargetMs} ms`}: ${met ? 'met' : 'MISSED'})`,
  );
  console.log(
    `    ${fmt(result.requests.total)} requests (${fmt(result.requests.average)}/s, ${phase.connections} connections), ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; ` +
      `${fmt(s.requested)} transfers requested, ${fmt(s.committed)} committed, ${fmt(s.terminal - s.committed)} otherwise terminal, last commit ${seconds.toFixed(1)} s after the first request`,
  );
  console.log(
    `    CPU per committed transfer: service ${cpuMs(cpuSecondsSince(cpuAtStart.service, isService))} ms, ` +
      `postgres ${cpuMs(cpuSecondsSince(cpuAtStart.pg, isPostgres))} ms, this load generator ${cpuMs((benchCpu.user + benchCpu.system) / 1e6)} ms; ` +
      `machine ${(((machine.busy - cpuAtStart.machine.busy) / Math.max(1, machine.total - cpuAtStart.machine.total)) * 100).toFixed(0)}% busy (both cores)`,
  );
}

async function main(): Promise<void> {
  await withScratchDatabase(async (db) => {
    console.log(
      `PostgreSQL: ${db.source}; ${phaseSeconds} s of load per phase, then up to ${drainLimitMs / 1000} s to finish\n`,
    );
    const pool = db.pool(2);
    const service = await startService(db.url);
    try {
      await setUp(service.url, pool, accountCount);
      const phases: Phase[] = [
        {
          name: 'single, uniform',
          route: '/v1/transfers',
          hot: false,
          connections: singleConnections,
          committedTarget: singleTarget,
          p99TargetMs: singleP99TargetMs,
        },
        {
          name: 'single, hot account',
          route: '/v1/transfers',
          hot: true,
          connections: singleConnections,
          committedTarget: singleTarget,
          p99TargetMs: singleP99TargetMs,
        },
        {
          name: `batch of ${batchSize}, uniform`,
          route: '/v1/transfers/batch',
          hot: false,
          connections: batchConnections,
          committedTarget: batchTarget,
        },
        {
          name: `batch of ${batchSize}, hot account`,
          route: '/v1/transfers/batch',
          hot: true,
          connections: batchConnections,
          committedTarget: batchTarget,
        },
      ];
      // BENCH_PHASES: a |-separated subset of the phases, by the start of their names (e.g. "single").
      const only = process.env.BENCH_PHASES?.split('|').map((p) => p.trim());
      for (const phase of phases) {
        if (!only || only.some((o) => phase.name.startsWith(o))) await runPhase(service, pool, phase);
      }
    } finally {
      service.child.kill('SIGTERM');
      await Promise.race([once(service.child, 'exit'), sleep(40_000)]);
    }
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
