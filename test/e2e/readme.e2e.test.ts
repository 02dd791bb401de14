/**
 * The README's quick-start calls, run as written (only the base URL is this test's) against
 * the whole service, so the README cannot drift from what the service does; with the Kafka
 * bridge on, as the README shows it, and the README's example message checked against the
 * one that really arrives.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type RunningLedger } from '../../src/main';
import { defaultTopics } from '../../src/integration/settings';
import { collectMessages, type Received, testBridgeSettings } from '../support/kafka';
import { startTestService, type TestService } from '../support/service';

let service: TestService;
let ledger: RunningLedger;
const bridge = testBridgeSettings();

beforeAll(async () => {
  service = await startTestService({
    KAFKA_BROKERS: bridge.brokers.join(','),
    KAFKA_TOPIC_TRANSFERS: bridge.topics.transfers,
    KAFKA_TOPIC_ACCOUNTS: bridge.topics.accounts,
  });
  ledger = service.ledger;
});

afterAll(() => service.close());

const readme = () => readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

function quickStartScript(): string {
  const block = /<!-- quickstart:begin -->\s*```sh\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(readme());
  if (!block) throw new Error('README.md has no quick-start block between its markers');
  return block[1];
}

/** The example message the README shows for t-1001 committed: its topic, key, headers and data. */
function readmeExampleMessage() {
  const found = /The message of alice paying bob[^\n]*\n\n```text\n([\s\S]*?)```\n\n```json\n([\s\S]*?)```/.exec(
    readme(),
  );
  if (!found) throw new Error('README.md has no example message under "The message of alice paying bob"');
  const fields = new Map<string, string>();
  const headers: Record<string, string> = {};
  for (const line of found[1].split('\n').filter((l) => l.trim() !== '')) {
    const header = /^(?:headers)?\s+([a-z_-]+): (.*)$/.exec(line);
    if (header) headers[header[1]] = header[2];
    else fields.set(line.split(/\s+/)[0], line.split(/\s+/).slice(1).join(' '));
  }
  return { topic: fields.get('topic'), key: fields.get('key'), headers, data: JSON.parse(found[2]) as unknown };
}

/** Times, ids and positions differ from run to run; the rest of a message must not. */
function stable(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value)
      .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      .replace(/"(ledger_revision|ledger_position)":"\d+"/g, '"$1":"<n>"'),
  );
}

/**
 * Every curl must answer 2xx. A GET is retried briefly: reads come from the read models,
 * which follow a write by milliseconds (a person typing the next command never sees that).
 * A POST is sent once, exactly as written.
 */
const curlWrapper = `
curl() {
  local out attempts=1
  case " $* " in *" POST "*) ;; *) attempts=50 ;; esac
  for _ in $(seq 1 $attempts); do
    if out=$(command curl --fail-with-body "$@"); then printf '%s\\n' "$out"; return 0; fi
    sleep 0.1
  done
  printf 'FAILED: curl %s\\n%s\\n' "$*" "$out" >&2
  return 1
}
`;

test('every quick-start call works as shown', async () => {
  const quickStart = quickStartScript();
  expect(quickStart).toContain('http://localhost:8081');
  // Asynchronously: the service answering these calls runs in this very process.
  const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const script = `set -euo pipefail\n${curlWrapper}\n${quickStart.replaceAll('http://localhost:8081', ledger.url)}`;
    execFile('bash', ['-c', script], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  expect(run.stdout).toContain('"status":"COMMITTED"');
  expect(run.stdout).toMatch(/"transactionId":"[^"]+","status":"(REQUESTED|HELD|CREDITED|COMMITTED)"/);
  expect(run.stdout).toContain('"status":"UP"');

  // In the end: 100.00 in, 12.50 to bob, 5.00 to bob once (the seed call was sent twice with one key).
  const balance = async (id: string) => {
    for (let i = 0; i < 50; i++) {
      const body = (await (await fetch(`${ledger.url}/v1/accounts/${id}/balance`)).json()) as { posted: string };
      if (body.posted === (id === 'alice' ? '82.50' : '17.50')) return body.posted;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return (await (await fetch(`${ledger.url}/v1/accounts/${id}/balance`)).json()) as unknown;
  };
  expect(await balance('alice')).toBe('82.50');
  expect(await balance('bob')).toBe('17.50');

  // The README's example message is what arrives on Kafka for t-1001's commit.
  const example = readmeExampleMessage();
  const collector = await collectMessages(bridge.brokers, [bridge.topics.transfers]);
  try {
    const isCommit = (m: Received) => m.headers.ce_type === 'ledger.transfer.committed.v1' && m.data.id === 't-1001';
    await collector.waitFor('t-1001 committed on Kafka', (messages) => messages.some(isCommit));
    const arrived = collector.messages.find(isCommit)!;
    expect(example.topic).toBe(defaultTopics.transfers);
    expect(stable({ key: arrived.key, headers: arrived.headers, data: arrived.data })).toEqual(
      stable({ key: example.key, headers: example.headers, data: example.data }),
    );
  } finally {
    await collector.stop();
  }
});
