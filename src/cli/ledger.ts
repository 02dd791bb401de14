#!/usr/bin/env node
import path from 'node:path';
import { parseArgs } from 'node:util';
import { apiKeyEntry, apiKeyNamePattern, apiKeyNameRule, generateApiKey, parseScopes } from '../api/api-keys';
import { ConfigError, loadConfig } from '../config';
import { openDatabase } from '../db/database';
import { openEventStore } from '../eventstore';
import type { EventStore } from '../eventstore/port';
import { kafkaLogSummary, kafkaVersion, PortInUseError, startKafkaBroker } from '../integration/kafka-broker';
import { createJobContext } from '../jobs/context';
import { type FinishedRun, runReconcileJob } from '../jobs/run-job';
import { isReconcileJobName, reconcileJobNames } from '../jobs/settings';
import { createLogger } from '../logger';
import { allProjections, findProjection } from '../projections';
import type { Projection } from '../projections/projection';
import { maxReportedDifferences, replayProjection, verifyProjection } from '../projections/replay';
import { ProgressReporter } from './progress';

const projectionNames = allProjections.map((p) => p.name).join(', ');

const usage = `usage: ledger <command> [options]

commands:
  migrate                            apply pending database migrations (DATABASE_URL, or the embedded default)
  replay <projection...> | --all     rebuild read models from the event store into <table>__next while the
                                     live tables keep serving, then swap them in, one projection at a time.
                                     Killed midway, it resumes: run the same command again (a killed run
                                     holds its replay lease for up to 30 s more).
  replay --verify <projection...> | --all
                                     rebuild into scratch tables up to the live checkpoint and print every row
                                     that differs from the live tables, one line each:
                                       DIFF <projection> <table> only-in-<live|rebuilt> <row as JSON>
                                     changes nothing live; exit code 1 if there is any difference
  reconcile <job> | all [--repair] [--from-events]
                                     run a reconciliation job once, here, and print its report (the run is
                                     recorded with the scheduled ones). jobs: ${reconcileJobNames.join(', ')};
                                     all runs each in turn. verify-balances covers every account.
                                     --repair: verify-balances re-projects each account it finds wrong
                                     --from-events: conservation folds the event store instead of the read models
                                     exit code 1 if a job found problems (repaired ones too)
  api-key <name> <scopes>            make a new API key: prints the key (shown this once only) and the
                                     API_KEYS entry to add for it, which holds only the key's SHA-256.
                                     scopes: read, write, admin joined with + (admin grants every scope,
                                     write does not include read), e.g. ledger api-key payouts read+write
  kafka [--port N]                   run a single-node Apache Kafka ${kafkaVersion} broker (KRaft mode) in the
                                     foreground, data in <LEDGER_DATA_DIR>/kafka (.data/kafka by default).
                                     Needs Java 17+ and Maven: the broker's jars come from Maven Central into
                                     ~/.m2 (kafka/pom.xml). Once it is up, prints the line to start the
                                     service with, KAFKA_BROKERS=127.0.0.1:<port>; Ctrl-C stops it.
                                     --port: 9092 by default (exit code 2 if taken); 0 picks a free port
  help                               print this text

projections: ${projectionNames}
exit codes: 0 done (no differences), 1 differences or problems found (--verify, reconcile), 2 bad arguments or failure`;

class UsageError extends Error {}

/** The `ledger` command. Unknown commands and flags are errors, never ignored. */
export async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'migrate': {
        parse(rest, {}, false);
        const db = await openDatabase(loadConfig(), createLogger());
        await db.close();
        return 0;
      }
      case 'replay':
        return await replay(rest);
      case 'api-key':
        return apiKey(rest);
      case 'kafka':
        return await kafka(rest);
      case 'reconcile':
        return await reconcile(rest);
      case 'help':
      case '--help':
      case '-h':
      case undefined:
        process.stdout.write(`${usage}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ledger: ${err.message}\n${usage}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`ledger: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

type Flags = Record<string, { type: 'boolean' | 'string'; short?: string }>;

/** node:util parseArgs, strict; its errors (unknown flags, stray arguments) become usage errors. */
function parse<T extends Flags>(args: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The projections a replay names; every problem with the arguments is a UsageError. */
function chooseProjections(names: string[], all: boolean, verb: string): Projection[] {
  if (all && names.length > 0) throw new UsageError('give projection names or --all, not both');
  if (all) return [...allProjections];
  if (names.length === 0) throw new UsageError(`name the projections to ${verb} (${projectionNames}), or give --all`);
  const unknown = names.filter((n) => !findProjection(n));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown projection${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')} (known: ${projectionNames})`,
    );
  }
  return [...new Set(names)].map((n) => findProjection(n)!);
}

/** Prints a new key and its API_KEYS entry. Needs no configuration: nothing is stored. */
function apiKey(args: string[]): number {
  const { values, positionals } = parse(args, { help: { type: 'boolean', short: 'h' } }, true);
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (positionals.length !== 2) {
    throw new UsageError('api-key takes a name and scopes, e.g. ledger api-key payouts read+write');
  }
  const [name, scopesText] = positionals;
  if (!apiKeyNamePattern.test(name)) throw new UsageError(`invalid API key name: ${apiKeyNameRule}`);
  const scopes = parseScopes(scopesText);
  if ('problem' in scopes) throw new UsageError(`invalid scopes: ${scopes.problem}`);
  const key = generateApiKey();
  process.stdout.write(
    `API key for ${name}, shown only now (hand it to the client; the ledger keeps only its hash):\n  ${key}\n` +
      `Add this entry to API_KEYS (entries are comma-separated) and restart the ledger:\n  ${apiKeyEntry(name, scopes.scopes, key)}\n`,
  );
  return 0;
}

const defaultKafkaPort = 9092;

/**
 * A Kafka broker in the foreground until SIGINT or SIGTERM, which stop it cleanly. Stdout
 * gets one line, KAFKA_BROKERS=...; what a person watching wants to know goes to stderr.
 */
async function kafka(args: string[]): Promise<number> {
  const { values } = parse(args, { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, false);
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const portText = values.port ?? String(defaultKafkaPort);
  const port = Number(portText);
  if (!/^[0-9]+$/.test(portText) || port > 65_535) throw new UsageError(`--port must be 0-65535, not ${portText}`);
  const dataDir = path.resolve(loadConfig().dataDir, 'kafka');
  const say = (line: string) => process.stderr.write(`ledger kafka: ${line}\n`);

  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
  });
  say(`starting Kafka ${kafkaVersion} with its data in ${dataDir}…`);
  const starting = startKafkaBroker({ dataDir, port, log: say });
  starting.catch(() => undefined); // awaited in the race below
  let broker: Awaited<typeof starting> | undefined;
  try {
    broker = await Promise.race([starting, stopSignal.then(() => undefined)]);
  } catch (err) {
    if (err instanceof PortInUseError) {
      say(`port ${err.port} is taken (another Kafka?): give another with --port N, or --port 0 for a free one`);
    } else {
      say(`Kafka did not start: ${(err as Error).message}`);
    }
    return 2;
  }
  if (broker === undefined) {
    // A broker still starting is ended by startKafkaBroker's exit hook as this process exits.
    say('interrupted before Kafka was up');
    return 130;
  }
  say(`Kafka ${kafkaVersion} is up on ${broker.brokers} (log: ${broker.logFile}); Ctrl-C stops it`);
  process.stdout.write(`KAFKA_BROKERS=${broker.brokers}\n`);
  const ended = await Promise.race([stopSignal, broker.exited.then(() => 'exited' as const)]);
  if (ended === 'exited') {
    say(`Kafka ended by itself; its log ${broker.logFile} says:\n${kafkaLogSummary(broker.logFile)}`);
    return 2;
  }
  say(`${ended}: stopping Kafka…`);
  await broker.stop();
  say('Kafka stopped');
  return 0;
}

/** The logger at warn or quieter, so log lines do not break into the progress output. */
function quietLevel(level: string): string {
  return ['error', 'fatal', 'silent'].includes(level) ? level : 'warn';
}

async function replay(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { all: { type: 'boolean' }, verify: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const projections = chooseProjections(positionals, values.all === true, values.verify ? 'verify' : 'replay');
  const config = loadConfig();
  const logger = createLogger(quietLevel(config.logLevel));
  const db = await openDatabase(config, logger);
  let store: EventStore | undefined;
  const progress = new ProgressReporter(process.stdout, { verb: values.verify ? 'verify' : 'replay' });
  let current = '';
  try {
    store = openEventStore(config, db.pool, logger);
    let differences = 0;
    for (const projection of projections) {
      current = projection.name;
      progress.begin(projection.name);
      if (!values.verify) {
        progress.finish(await replayProjection(store, db.pool, projection, (p) => progress.update(p)));
        continue;
      }
      let last = { projection: projection.name, done: 0, total: 0, position: 0n };
      const found = await verifyProjection(store, db.pool, projection, (p) => {
        last = { ...p };
        progress.update(p);
      });
      progress.finish(last);
      for (const d of found) {
        process.stdout.write(
          `DIFF ${projection.name} ${d.table} only-in-${d.only} ${JSON.stringify(d.row, jsonSafe)}\n`,
        );
      }
      const perGroup = new Map<string, number>();
      for (const d of found)
        perGroup.set(`${d.table} only-in-${d.only}`, (perGroup.get(`${d.table} only-in-${d.only}`) ?? 0) + 1);
      for (const [group, n] of perGroup) {
        if (n >= maxReportedDifferences)
          process.stderr.write(`ledger: ${projection.name} ${group}: only the first ${n} rows are listed\n`);
      }
      differences += found.length;
    }
    if (values.verify) {
      if (differences === 0) process.stdout.write('no differences\n');
      return differences === 0 ? 0 : 1;
    }
    return 0;
  } catch (err) {
    progress.abort();
    const what = values.verify ? 'verify' : 'replay';
    process.stderr.write(`ledger: ${what}${current && ` of ${current}`} failed: ${(err as Error).message}\n`);
    if (!values.verify && current)
      process.stderr.write('ledger: run the same command again to resume where it stopped\n');
    return 2;
  } finally {
    await store?.close();
    await db.close();
  }
}

async function reconcile(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { repair: { type: 'boolean' }, 'from-events': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError(`reconcile takes one job (${reconcileJobNames.join(', ')}) or all`);
  const [name] = positionals;
  if (name !== 'all' && !isReconcileJobName(name)) {
    throw new UsageError(`unknown job ${JSON.stringify(name)} (known: ${reconcileJobNames.join(', ')}, all)`);
  }
  const jobs = name === 'all' ? [...reconcileJobNames] : [name];
  const config = loadConfig();
  const logger = createLogger(quietLevel(config.logLevel));
  const db = await openDatabase(config, logger);
  const store = openEventStore(config, db.pool, logger);
  const ctx = createJobContext({
    store,
    pool: db.pool,
    settings: config.reconcile,
    bridge: config.bridge !== undefined,
    logger,
  });
  let problems = 0;
  try {
    for (const job of jobs) {
      const progress = new ProgressReporter(process.stderr, {
        verb: 'reconcile',
        unit: job === 'verify-balances' ? 'accounts' : 'positions',
      });
      progress.begin(job);
      const started = performance.now();
      let run: FinishedRun;
      try {
        run = await runReconcileJob(
          ctx,
          job,
          {
            repair: values.repair === true,
            fromEvents: values['from-events'] === true,
            allAccounts: true,
            progress: (done, total) => progress.update({ projection: job, done, total, position: 0n }),
          },
          { trigger: 'cli' },
        );
      } catch (err) {
        progress.abort();
        process.stderr.write(`ledger: reconcile ${job} failed: ${(err as Error).message}\n`);
        return 2;
      }
      progress.abort();
      process.stdout.write(formatRun(job, run, (performance.now() - started) / 1000));
      problems += run.report.problemsTotal;
    }
  } finally {
    await store.close();
    await db.close();
  }
  return problems === 0 ? 0 : 1;
}

/** A run's report as `ledger reconcile` prints it. */
export function formatRun(job: string, run: FinishedRun, seconds: number): string {
  const { report } = run;
  const verdict =
    report.problemsTotal === 0 ? 'ok' : `${report.problemsTotal} problem${report.problemsTotal === 1 ? '' : 's'}`;
  const lines = [`${job}: ${verdict} (run ${run.id}, ${seconds.toFixed(1)} s)`];
  for (const [key, value] of Object.entries(report.counts)) lines.push(`  ${key}: ${value}`);
  for (const p of report.problems) {
    lines.push(`  PROBLEM ${p.kind} ${p.subject}: ${p.message}${p.repaired ? ' (repaired)' : ''}`);
  }
  const unlisted = report.problemsTotal - report.problems.length;
  if (unlisted > 0) lines.push(`  ... and ${unlisted} more (the first ${report.problems.length} are listed)`);
  return `${lines.join('\n')}\n`;
}

/** Rows come from node-postgres (bigint columns as strings), but be safe with BigInt anyway. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

if (require.main === module) {
  // Ctrl-C: end a redrawn progress line; a killed replay resumes when run again.
  // (`ledger kafka` handles its own signals: it stops the broker before it exits.)
  if (process.argv[2] !== 'kafka') {
    process.once('SIGINT', () => {
      if (process.stdout.isTTY) process.stdout.write('\n');
      process.stderr.write('ledger: interrupted (a replay resumes where it stopped when run again)\n');
      process.exit(130);
    });
  }
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`ledger: ${err.message}\n`);
      process.exit(2);
    },
  );
}
