/**
 * npm run bench:bridge — the Kafka bridge while the ledger runs at full load. A benchmark,
 * not a test.
 *
 * On a scratch database and a Kafka broker (KAFKA_BROKERS, else a single-node Kafka started
 * here), the service runs as `npm start` runs it. Single transfers over HTTP (BENCH_CONNECTIONS,
 * 64, uniform over BENCH_ACCOUNTS accounts) for BENCH_SECONDS each, after a warm-up (a
 * transfer from every account, then 5 s of the load): a freshly started service folds each
 * account on first use and compiles its hot code, which would otherwise be counted against
 * the bridge:
 *   1. bridge off: the baseline, committed/s and the service's CPU per transfer;
 *   2. the bridge switched on over the history so far: its catch-up rate (messages/s);
 *   3. bridge on, the same load: committed/s (against 1.), messages/s through the bridge,
 *      and the end-to-end lag of every message, from the event appended to the event store
 *      (ce_time) to the broker appending it (the topic's LogAppendTime, read back by a
 *      consumer here), p50 / p99 / max; the bridge's lag in positions, sampled each second,
 *      to see whether it grows; and how long it takes to reach zero after the load stops.
 * Targets: the bridge keeps up (its lag does not grow over the phase and is back to zero
 * within 2 s of the end), lag p99 ≤ 1 s.
 */
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Kafka, logLevel } from 'kafkajs';
import type { Pool } from 'pg';
import { resolveKafka } from '../src/integration/kafka-broker';
import { cpuSecondsSince, cpuTicks, envNumber, fmt, isPostgres, percentile, type ProcessFilter } from './common';
import { withScratchDatabase } from './scratch-database';
import { drained, headPosition, type Service, setUp, startService, transferBody, warmUp } from './service';

const phaseSeconds = envNumber('BENCH_SECONDS', 15, 1, 3_600);
const warmUpSeconds = 5;
const accountCount = envNumber('BENCH_ACCOUNTS', 10_000, 2, 1_000_000);
const connections = envNumber('BENCH_CONNECTIONS', 64, 1, 10_000);
const partitions = 6;
const lagP99TargetMs = 1_000;
const drainTargetMs = 2_000;
const catchUpLimitMs = 300_000;
const topics = { transfers: 'bench.transfers', accounts: 'bench.accounts' };

/** The Kafka broker's JVM (the only java process a bench machine runs). */
const isBroker: ProcessFilter = (_pid, command) => command === 'java';

interface LoadResult {
  committedPerSecond: number;
  committed: number;
  /** CPU ms per committed transfer, by process. */
  cpuMs: { service: number; postgres: number; broker: number; bench: number };
  loadEndedMs: number;
}

function loadFor(service: Service, seconds: number) {
  return autocannon({
    url: `${service.url}/v1/transfers`,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json' },
    requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify(transferBody(false, accountCount)) }) }],
  });
}

/** A started service is warmed first (JIT, account caches), so both phases measure a running service. */
async function offerLoad(service: Service, pool: Pool, during?: () => void, onStart?: () => void): Promise<LoadResult> {
  await warmUp(service.url, pool, accountCount);
  const warmFrom = await headPosition(pool);
  await loadFor(service, warmUpSeconds);
  await drained(pool, warmFrom);
  onStart?.();
  const from = await headPosition(pool);
  const isService: ProcessFilter = (pid) => pid === service.child.pid;
  const cpu = { service: cpuTicks(isService), pg: cpuTicks(isPostgres), broker: cpuTicks(isBroker) };
  const benchCpu = process.cpuUsage();
  const startedMs = Date.now();
  const sampler = during === undefined ? undefined : setInterval(during, 1_000);
  await loadFor(service, phaseSeconds);
  const loadEndedMs = Date.now();
  clearInterval(sampler);
  const s = await drained(pool, from);
  const perTransfer = (seconds: number) => (seconds * 1000) / Math.max(1, s.committed);
  const bench = process.cpuUsage(benchCpu);
  return {
    committedPerSecond: s.committed / (Math.max(s.lastCommitMs - startedMs, 1) / 1000),
    committed: s.committed,
    cpuMs: {
      service: perTransfer(cpuSecondsSince(cpu.service, isService)),
      postgres: perTransfer(cpuSecondsSince(cpu.pg, isPostgres)),
      broker: perTransfer(cpuSecondsSince(cpu.broker, isBroker)),
      bench: perTransfer((bench.user + bench.system) / 1e6),
    },
    loadEndedMs,
  };
}

const cpuText = ({ cpuMs }: LoadResult) =>
  `CPU ms per transfer: service ${cpuMs.service.toFixed(2)}, postgres ${cpuMs.postgres.toFixed(2)}, ` +
  `Kafka broker ${cpuMs.broker.toFixed(2)}, this bench (load and consumer) ${cpuMs.bench.toFixed(2)}`;

async function bridgeLag(service: Service): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const match = /^ledger_bridge_lag_positions\{[^}]*\} (\S+)$/m.exec(text);
  return match ? Number(match[1]) : NaN;
}

/** Reads every message's lag (LogAppendTime − ce_time) as it arrives. */
async function watchMessages(brokers: string[]) {
  const kafka = new Kafka({ clientId: 'bench-bridge', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `bench-bridge-${Date.now()}`, maxBytes: 50 * 1024 * 1024 });
  const lagsMs: number[] = [];
  const seen = { count: 0, since: Number.POSITIVE_INFINITY };
  await consumer.connect();
  await consumer.subscribe({ topics: Object.values(topics), fromBeginning: false });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        const appendedMs = Date.parse(String(m.headers?.ce_time));
        if (appendedMs >= seen.since) lagsMs.push(Number(m.timestamp) - appendedMs);
        seen.count++;
      }
    },
  });
  return {
    lagsMs,
    seen,
    /** Only messages of events appended from now on count. */
    measureFrom(ms: number) {
      seen.since = ms;
      lagsMs.length = 0;
    },
    stop: () => consumer.disconnect(),
  };
}

async function createTopics(brokers: string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'bench-bridge', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    // LogAppendTime: each record's timestamp is when the broker appended it, which the lag is measured to.
    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(topics).map((topic) => ({
        topic,
        numPartitions: partitions,
        configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
      })),
    });
  } finally {
    await admin.disconnect();
  }
}

async function stopService(service: Service): Promise<void> {
  service.child.kill('SIGTERM');
  await Promise.race([once(service.child, 'exit'), sleep(40_000)]);
}

async function main(): Promise<void> {
  const kafka = await resolveKafka({
    brokers: process.env.KAFKA_BROKERS || undefined,
    dataDir: mkdtempSync(path.join(tmpdir(), 'ledger-bench-kafka-')),
    removeDataDir: true,
    log: (line) => console.log(line),
  });
  const brokers = kafka.brokers.split(',');
  try {
    await createTopics(brokers);
    await withScratchDatabase(async (db) => {
      const pool = db.pool(2);
      console.log(
        `Kafka: ${kafka.source} (${kafka.brokers}); PostgreSQL: ${db.source}; ${phaseSeconds} s of single transfers per ` +
          `phase, ${connections} connections, ${fmt(accountCount)} accounts, ${partitions} partitions\n`,
      );

      // 1. The baseline: the bridge off.
      const off = await startService(db.url);
      let baseline: LoadResult;
      try {
        await setUp(off.url, pool, accountCount);
        baseline = await offerLoad(off, pool);
      } finally {
        await stopService(off);
      }
      console.log(`bridge off:  ${fmt(baseline.committedPerSecond).padStart(6)} committed/s; ${cpuText(baseline)}`);

      // 2. The bridge on, over the history so far.
      const watcher = await watchMessages(brokers);
      const history = await headPosition(pool);
      const on = await startService(db.url, {
        KAFKA_BROKERS: kafka.brokers,
        KAFKA_TOPIC_TRANSFERS: topics.transfers,
        KAFKA_TOPIC_ACCOUNTS: topics.accounts,
      });
      try {
        const catchUpStarted = Date.now();
        while ((await bridgeLag(on)) !== 0 || watcher.seen.count === 0) {
          if (Date.now() - catchUpStarted > catchUpLimitMs) throw new Error('the bridge did not catch up in time');
          await sleep(100);
        }
        const catchUpSeconds = (Date.now() - catchUpStarted) / 1000;
        console.log(
          `catch-up:    ${fmt(watcher.seen.count / catchUpSeconds).padStart(6)} messages/s (${fmt(watcher.seen.count)} ` +
            `messages of ${fmt(Number(history))} events in ${catchUpSeconds.toFixed(1)} s, service start included)`,
        );

        // 3. The same load with the bridge on.
        const lagSamples: number[] = [];
        let before = 0;
        const loaded = await offerLoad(
          on,
          pool,
          () => void bridgeLag(on).then((lag) => lagSamples.push(lag)),
          () => {
            before = watcher.seen.count;
            watcher.measureFrom(Date.now());
          },
        );
        let drainMs = 0;
        while ((await bridgeLag(on)) !== 0) {
          drainMs = Date.now() - loaded.loadEndedMs;
          if (drainMs > catchUpLimitMs) throw new Error('the bridge did not drain in time');
          await sleep(50);
        }
        drainMs = Math.max(0, Date.now() - loaded.loadEndedMs);
        await sleep(500); // the last messages on their way to the watcher
        const messages = watcher.seen.count - before;
        const lags = [...watcher.lagsMs].sort((a, b) => a - b);
        const half = Math.floor(lagSamples.length / 2);
        const firstHalfMax = Math.max(0, ...lagSamples.slice(0, half));
        const secondHalfMax = Math.max(0, ...lagSamples.slice(half));
        const keepsUp = secondHalfMax <= Math.max(2 * firstHalfMax, 1_000) && drainMs <= drainTargetMs;
        const p99 = percentile(lags, 99);
        console.log(
          `bridge on:   ${fmt(loaded.committedPerSecond).padStart(6)} committed/s ` +
            `(${(loaded.committedPerSecond / baseline.committedPerSecond).toFixed(2)}× the baseline); ${cpuText(loaded)}`,
        );
        console.log(
          `             ${fmt(messages / ((phaseSeconds * 1000 + drainMs) / 1000)).padStart(6)} messages/s through the bridge ` +
            `(${fmt(messages)} messages, ${(messages / Math.max(1, loaded.committed)).toFixed(1)} per transfer, over the load and the drain)`,
        );
        console.log(
          `             lag event appended → broker: p50 ${percentile(lags, 50)} ms, p99 ${p99} ms, max ${lags.at(-1)} ms ` +
            `over ${fmt(lags.length)} messages  (target p99 ≤ ${lagP99TargetMs} ms: ${p99 <= lagP99TargetMs ? 'met' : 'MISSED'})`,
        );
        console.log(
          `             bridge lag in positions, sampled each second: ${lagSamples.map(fmt).join(' ')}; ` +
            `zero ${drainMs} ms after the load ended  (target: keeps up, zero within ${drainTargetMs} ms: ${keepsUp ? 'met' : 'MISSED'})`,
        );
      } finally {
        await watcher.stop();
        await stopService(on);
      }
    });
  } finally {
    await kafka.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
