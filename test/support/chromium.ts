/**
 * A Chromium for browser tests: Debian's package, installed with apt-get when it is missing.
 * Playwright's own browser download cannot work here (only package registries are
 * reachable), so tests launch the system browser through playwright-core instead.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

export const chromiumPath = '/usr/bin/chromium';

/**
 * Flags for a closed network: no background, update, sync or QUIC traffic, whose refused
 * connections would otherwise slow the browser down. Playwright gives each launch a fresh
 * user-data-dir of its own.
 */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Downloading and unpacking chromium and its libraries: a minute or two, more on a slow mirror. */
const aptTimeoutMs = 10 * 60_000;
/** Another apt-get (the other test worker, unattended upgrades) may hold dpkg's lock that long. */
const aptLockWaitSeconds = 300;
const maxAptOutputBytes = 64 * 1024 * 1024;

const run = promisify(execFile);

async function aptGet(args: string[]): Promise<void> {
  await run('apt-get', ['-o', `DPkg::Lock::Timeout=${aptLockWaitSeconds}`, ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: aptTimeoutMs,
    maxBuffer: maxAptOutputBytes,
  });
}

/** The last lines apt-get wrote, which say why it failed. */
function aptFailure(err: unknown): string {
  const { stderr, stdout, message } = err as { stderr?: string; stdout?: string; message?: string };
  const output = `${stderr ?? ''}${stdout ?? ''}`.trim() || (message ?? String(err));
  return output.split('\n').slice(-10).join('\n');
}

/**
 * The path of a Chromium executable: /usr/bin/chromium, installed first if it is missing
 * (as root; `apt-get update` first when the package lists do not have it).
 */
export async function ensureChromium(): Promise<string> {
  if (existsSync(chromiumPath)) return chromiumPath;
  if (process.getuid?.() !== 0) {
    throw new Error(`${chromiumPath} is missing and only root can install it: run apt-get install chromium`);
  }
  const install = () => aptGet(['install', '-y', '--no-install-recommends', 'chromium']);
  try {
    await install();
  } catch {
    // Usually no package lists yet, or stale ones naming a version the mirror no longer has.
    try {
      await aptGet(['update']);
      await install();
    } catch (err) {
      throw new Error(`could not install Debian's chromium with apt-get:\n${aptFailure(err)}`, { cause: err });
    }
  }
  if (!existsSync(chromiumPath)) throw new Error(`apt-get installed chromium, but ${chromiumPath} is not there`);
  return chromiumPath;
}
