/**
 * The README's quick-start calls, run as written (only the base URL is this test's) against
 * the whole service, so the README cannot drift from what the service does.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type RunningLedger } from '../../src/main';
import { startTestService, type TestService } from '../support/service';

let service: TestService;
let ledger: RunningLedger;

beforeAll(async () => {
  service = await startTestService();
  ledger = service.ledger;
});

afterAll(() => service.close());

function quickStartScript(): string {
  const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const block = /<!-- quickstart:begin -->\s*```sh\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(readme);
  if (!block) throw new Error('README.md has no quick-start block between its markers');
  return block[1];
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
});
