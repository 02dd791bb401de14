/**
 * A real single-node Apache Kafka broker (KRaft mode: broker and controller in one JVM) for
 * the test run and for `ledger kafka`. Nothing of Kafka is committed: kafka/pom.xml names the
 * broker's jars, Maven fetches them from Maven Central into ~/.m2 and prints their classpath,
 * and the broker runs from them on the machine's Java (17 or later).
 *
 * resolveKafka() is what the test run uses: KAFKA_BROKERS if set (it must answer), else a
 * broker started here on free ports, stopped with stop().
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { hasExited, signalAndWait, stopChild } from '../child-process';
import { withDeadline } from '../deadline';
import { freePort } from '../net';

/** The version kafka/pom.xml fetches; kafkaClasspath() checks that the classpath holds it. */
export const kafkaVersion = '3.9.1';
const kafkaJar = `kafka_2.13-${kafkaVersion}.jar`;

export interface KafkaBroker {
  /** Its bootstrap address, `127.0.0.1:<port>`. */
  brokers: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  logFile: string;
  /** Settles when the broker's JVM has ended, for whatever reason. */
  exited: Promise<void>;
  /** A clean shutdown (SIGTERM); SIGKILL if it has not ended after 10 s. */
  stop(): Promise<void>;
  /** SIGKILL: a crash, for tests. */
  kill(): Promise<void>;
}

export interface StartKafkaBrokerOptions {
  /** Holds server.properties, the log (kafka.log) and the data (logs/); reused when it holds a formatted broker. */
  dataDir: string;
  /** The client (PLAINTEXT) port on 127.0.0.1; unset or 0: a free one. */
  port?: number;
  /** The KRaft controller's port on 127.0.0.1; unset or 0: a free one. */
  controllerPort?: number;
  /** The JVM's maximum heap; 512 MiB by default. */
  heapMb?: number;
  /** Where the broker's output goes; `<dataDir>/kafka.log` by default. */
  logFile?: string;
  /** Progress for a person waiting (fetching jars, formatting). */
  log?: (line: string) => void;
}

export interface ResolvedKafka {
  /** Comma-separated host:port list, for kafkajs `brokers` (split on commas). */
  brokers: string;
  source: 'KAFKA_BROKERS' | 'started broker';
  /** Stops a broker started here; nothing for KAFKA_BROKERS. */
  stop(): Promise<void>;
}

export interface ResolveKafkaOptions {
  /** KAFKA_BROKERS, when set: a comma-separated list of host:port. */
  brokers: string | undefined;
  /** A started broker's directory (see StartKafkaBrokerOptions.dataDir). */
  dataDir: string;
  /** Delete dataDir when the started broker stops (a test run's temporary directory). */
  removeDataDir?: boolean;
  /** Told when Maven has to fetch the jars (a minute or so, once per machine). */
  log?: (line: string) => void;
}

/** An explicitly requested port that something else already listens on. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(readonly port: number) {
    super(`127.0.0.1:${port} is already in use`);
  }
}

/** A cold ~/.m2 takes about 25 s; a slow mirror gets far more, but not forever. */
const mavenTimeoutMs = 10 * 60_000;
const formatTimeoutMs = 60_000;
/** JVM start, storage load and the KRaft election; about 3 s on an idle machine. */
const brokerStartTimeoutMs = 90_000;
const brokerStopTimeoutMs = 10_000;
const brokerKillTimeoutMs = 5_000;
/** KAFKA_BROKERS may be across a network. */
const brokersProbeTimeoutMs = 5_000;
const startProbeTimeoutMs = 2_000;
const startPollIntervalMs = 250;
const disconnectTimeoutMs = 1_000;
/** Another process may take a free port before the JVM binds it; then try new ones. */
const maxBrokerStartAttempts = 3;
const defaultHeapMb = 512;
const logTailChars = 3_000;

// eslint-disable-next-line no-control-regex
const withoutColours = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

function tail(text: string): string {
  const trimmed = withoutColours(text).trim();
  return trimmed === '' ? '(nothing)' : trimmed.slice(-logTailChars);
}

const startMarker = '=== starting Kafka';
const maxErrorLines = 6;

/** The broker's log from its last start on. */
function lastStartLog(logFile: string): string | undefined {
  try {
    const text = readFileSync(logFile, 'utf8');
    return text.slice(Math.max(0, text.lastIndexOf(startMarker)));
  } catch {
    return undefined;
  }
}

/**
 * What a broker's log says about its last start: its first error lines (the cause; a failed
 * start logs pages of orderly shutdown after it), then how the log ends.
 */
export function kafkaLogSummary(logFile: string): string {
  const text = lastStartLog(logFile);
  if (text === undefined) return `(no log at ${logFile})`;
  const lines = text.split('\n');
  const errors = lines.filter((line) => /\b(ERROR|FATAL)\b|^\S*(Exception|Error)\b/.test(line)).slice(0, maxErrorLines);
  const ending = tail(lines.slice(-20).join('\n'));
  return errors.length === 0 ? ending : `${errors.join('\n')}\n…\n${ending}`;
}

/** The repository root: the first directory above this file's (src/ or dist/src/) holding kafka/pom.xml. */
function kafkaPom(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pom = path.join(dir, 'kafka', 'pom.xml');
    if (existsSync(pom)) return pom;
    if (path.dirname(dir) === dir) throw new Error(`cannot find kafka/pom.xml in any directory above ${__dirname}`);
  }
}

/** The classpath text, when every jar it names is still there. */
function cachedClasspath(cacheFile: string): string | undefined {
  try {
    const classpath = readFileSync(cacheFile, 'utf8').trim();
    const jars = classpath.split(path.delimiter);
    return classpath !== '' && jars.every((jar) => existsSync(jar)) ? classpath : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `command` to its end (at most `timeoutMs`), killing it if this process exits first. */
async function runToEnd(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4 * logTailChars);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, output, timedOut };
  } finally {
    clearTimeout(timer);
    process.off('exit', killOnExit);
  }
}

const whyJava = 'Kafka runs on Java 17 or later (JAVA_HOME, else java on PATH)';
const whyMaven = `Kafka ${kafkaVersion}'s jars come from Maven Central through Maven (mvn on PATH)`;

/**
 * The classpath of the broker kafka/pom.xml names, from Maven. Cached in the temporary
 * directory under the pom's SHA-256, and reused while every jar it lists exists.
 */
export async function kafkaClasspath(options: { log?: (line: string) => void } = {}): Promise<string> {
  const pom = kafkaPom();
  const pomHash = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
  const cacheFile = path.join(os.tmpdir(), `ledger-kafka-classpath-${pomHash}.txt`);
  const cached = cachedClasspath(cacheFile);
  if (cached !== undefined) return cached;

  options.log?.(`fetching Kafka's jars with Maven… (into ~/.m2; about 30 s the first time)`);
  // Written aside and renamed: a concurrent run never reads half a file.
  const outputFile = `${cacheFile}.${process.pid}.tmp`;
  const args = ['-q', '-B', '-f', pom, 'dependency:build-classpath', `-Dmdep.outputFile=${outputFile}`];
  let result: Awaited<ReturnType<typeof runToEnd>>;
  try {
    result = await runToEnd('mvn', args, mavenTimeoutMs);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(
      `${missing ? 'mvn is not on PATH' : `cannot run mvn: ${(err as Error).message}`}; ${whyMaven}, and ${whyJava}`,
      { cause: err },
    );
  }
  if (result.timedOut || result.code !== 0) {
    rmSync(outputFile, { force: true });
    const how = result.timedOut
      ? `did not finish within ${mavenTimeoutMs / 60_000} min`
      : `failed (exit code ${result.code})`;
    throw new Error(
      `mvn ${args.join(' ')} ${how}; ${whyMaven}, and Maven itself needs Java (JAVA_HOME or java on PATH). ` +
        `Its output ends with:\n${tail(result.output)}`,
    );
  }
  renameSync(outputFile, cacheFile);
  const classpath = cachedClasspath(cacheFile);
  if (classpath === undefined || !classpath.split(path.delimiter).some((jar) => path.basename(jar) === kafkaJar)) {
    throw new Error(`Maven's classpath for ${pom} (${cacheFile}) does not list ${kafkaJar}`);
  }
  return classpath;
}

function javaBinary(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** A base64url 16-byte id as Kafka's Uuid prints it; never one starting with '-', which its tools would read as a flag. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-') && !/^A+$/.test(id)) return id;
  }
}

function serverProperties(dataDir: string, port: number, controllerPort: number): string {
  return [
    '# Written by src/integration/kafka-broker.ts at every start.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${path.join(dataDir, 'logs')}`,
    'num.partitions=1',
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '# A light broker: one node, two cores, small files.',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.num.partitions=1',
    'num.network.threads=2',
    'num.io.threads=4',
    'log.segment.bytes=16777216',
    'log.index.size.max.bytes=1048576',
    'log.cleaner.dedupe.buffer.size=16777216',
    '',
  ].join('\n');
}

/** The pid in pidFile when that process still runs, and (where /proc tells) is the broker of propertiesFile. */
function runningBrokerPid(pidFile: string, propertiesFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  if (!existsSync('/proc/self')) return pid;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(propertiesFile) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether nothing listens on 127.0.0.1:port (binding it is the only sure test). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Whether a Kafka answers (metadata with at least one broker) at `brokers` within `timeoutMs`; why not when it does not. */
export async function kafkaAnswers(
  brokers: string[],
  timeoutMs: number,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const kafka = new Kafka({
    clientId: 'ledger-kafka-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    const cluster = await withDeadline(
      admin.connect().then(() => admin.describeCluster()),
      timeoutMs,
      'Kafka metadata request',
    );
    return cluster.brokers.length > 0 ? { ok: true } : { ok: false, reason: 'the cluster lists no brokers' };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  } finally {
    await withDeadline(admin.disconnect(), disconnectTimeoutMs, 'disconnect').catch(() => undefined);
  }
}

/** Runs a Kafka tool class to its end, its output appended to the log. */
async function runKafkaTool(classpath: string, logFile: string, args: string[]): Promise<void> {
  const java = javaBinary();
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(java, ['-Xmx256m', '-XX:+UseSerialGC', '-cp', classpath, ...args], {
      stdio: ['ignore', log, log],
    });
  } finally {
    closeSync(log);
  }
  // events.once rejects when the child emits 'error' (no java there).
  const [code] = (await withDeadline(once(child, 'exit'), formatTimeoutMs, `${java} ${args[0]}`).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`cannot run ${java} ${args.slice(0, 2).join(' ')}: ${err.message}; ${whyJava}`, { cause: err });
  })) as [number | null];
  if (code !== 0) {
    throw new Error(
      `${args.slice(0, 2).join(' ')} failed (exit code ${code}); ${logFile} says:\n${kafkaLogSummary(logFile)}`,
    );
  }
}

/** Polls until the broker answers, its JVM ends, or the start timeout passes. */
async function awaitBroker(child: ChildProcess, brokers: string): Promise<boolean> {
  const deadline = Date.now() + brokerStartTimeoutMs;
  while (Date.now() < deadline && !hasExited(child)) {
    if ((await kafkaAnswers([brokers], startProbeTimeoutMs)).ok) return true;
    await sleep(startPollIntervalMs);
  }
  return false;
}

/**
 * Starts a broker on 127.0.0.1 with its data under dataDir, and resolves once it answers.
 * A dataDir that already holds a formatted broker keeps its data (same cluster id), so a
 * broker stopped and started again on the same dataDir and ports has its topics back.
 */
export async function startKafkaBroker(options: StartKafkaBrokerOptions): Promise<KafkaBroker> {
  const dataDir = path.resolve(options.dataDir);
  const logFile = path.resolve(options.logFile ?? path.join(dataDir, 'kafka.log'));
  const propertiesFile = path.join(dataDir, 'server.properties');
  const pidFile = path.join(dataDir, 'kafka.pid');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(path.dirname(logFile), { recursive: true });
  // Kafka 3.9 locks its log directory too late: a second broker on it kills the first one.
  const running = runningBrokerPid(pidFile, propertiesFile);
  if (running !== undefined) {
    throw new Error(
      `another Kafka broker (pid ${running}) is running on ${dataDir}; stop it first, or use another directory`,
    );
  }
  for (const requested of [options.port, options.controllerPort]) {
    if (requested && !(await portIsFree(requested))) throw new PortInUseError(requested);
  }
  const classpath = await kafkaClasspath({ log: options.log });
  const heapMb = options.heapMb ?? defaultHeapMb;
  const java = javaBinary();
  const choosesPorts = !options.port || !options.controllerPort;

  for (let attempt = 1; ; attempt++) {
    const port = options.port || (await freePort());
    let controllerPort = options.controllerPort || (await freePort());
    while (controllerPort === port) controllerPort = await freePort();
    const brokers = `127.0.0.1:${port}`;
    writeFileSync(propertiesFile, serverProperties(dataDir, port, controllerPort));

    if (!existsSync(path.join(dataDir, 'logs', 'meta.properties'))) {
      const clusterId = newClusterId();
      options.log?.(`formatting ${path.join(dataDir, 'logs')} for a new cluster (${clusterId})…`);
      const format = ['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propertiesFile, '--ignore-formatted'];
      await runKafkaTool(classpath, logFile, format);
    }

    writeFileSync(logFile, `\n${startMarker} ${kafkaVersion} on ${brokers} at ${new Date().toISOString()} ===\n`, {
      flag: 'a',
    });
    const jvm = [`-Xms128m`, `-Xmx${heapMb}m`, '-XX:+UseSerialGC', '-Djava.awt.headless=true'];
    const logging = [
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
    ];
    const log = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(java, [...jvm, ...logging, '-cp', classpath, 'kafka.Kafka', propertiesFile], {
        stdio: ['ignore', log, log],
      });
    } finally {
      closeSync(log);
    }
    if (child.pid === undefined) {
      const [err] = await withDeadline(once(child, 'error'), brokerKillTimeoutMs, `starting ${java}`);
      throw new Error(`cannot run ${java}: ${(err as Error).message}; ${whyJava}`, { cause: err });
    }
    child.on('error', () => undefined); // e.g. a failed kill of a JVM that already ended
    writeFileSync(pidFile, `${child.pid}\n`);
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        rmSync(pidFile, { force: true });
        resolve();
      }),
    );
    // If this process ends without stop() (an uncaught error, process.exit), take the broker along.
    const stopOnExit = () => child.kill('SIGTERM');
    process.once('exit', stopOnExit);

    if (await awaitBroker(child, brokers)) {
      const forget = () => process.off('exit', stopOnExit);
      return {
        brokers,
        port,
        controllerPort,
        dataDir,
        logFile,
        exited,
        async stop() {
          forget();
          await stopChild(child, brokerStopTimeoutMs);
        },
        async kill() {
          forget();
          await signalAndWait(child, 'SIGKILL', brokerKillTimeoutMs);
        },
      };
    }
    const endedEarly = hasExited(child);
    process.off('exit', stopOnExit);
    await signalAndWait(child, 'SIGKILL', brokerKillTimeoutMs);
    const portTaken = endedEarly && /Address already in use/.test(lastStartLog(logFile) ?? '');
    if (portTaken && choosesPorts && attempt < maxBrokerStartAttempts) continue;
    const lastWords = kafkaLogSummary(logFile);
    const why = endedEarly
      ? `ended before it answered (exit code ${child.exitCode ?? child.signalCode})`
      : `did not answer within ${brokerStartTimeoutMs / 1000} s`;
    throw new Error(`Kafka ${kafkaVersion} on ${brokers} ${why}; its log ${logFile} says:\n${lastWords}`);
  }
}

export async function resolveKafka(options: ResolveKafkaOptions): Promise<ResolvedKafka> {
  if (options.brokers !== undefined) {
    const brokers = options.brokers
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== '');
    if (brokers.length === 0) throw new Error('KAFKA_BROKERS is set but lists no host:port');
    const answer = await kafkaAnswers(brokers, brokersProbeTimeoutMs);
    if (!answer.ok) {
      throw new Error(`KAFKA_BROKERS is set, but no Kafka answers at ${brokers.join(',')}: ${answer.reason}`);
    }
    return { brokers: brokers.join(','), source: 'KAFKA_BROKERS', stop: async () => undefined };
  }
  // Only the slow step is worth a line; formatting a fresh test directory is routine.
  await kafkaClasspath({ log: options.log });
  const broker = await startKafkaBroker({ dataDir: options.dataDir });
  const removeDataDir = () => rmSync(broker.dataDir, { recursive: true, force: true });
  // A run that ends without stop() (a failed global setup, process.exit) leaves no directory
  // behind either: its data is throwaway, so the JVM gets SIGKILL (sent at once) instead of
  // a clean shutdown that would write into the directory while it is being removed.
  const killAndRemove = () => {
    void broker.kill();
    removeDataDir();
  };
  if (options.removeDataDir) process.once('exit', killAndRemove);
  return {
    brokers: broker.brokers,
    source: 'started broker',
    async stop() {
      process.off('exit', killAndRemove);
      await broker.stop();
      if (options.removeDataDir) removeDataDir();
    },
  };
}
