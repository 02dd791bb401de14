/**
 * The HTTP listener around the express app, with bounded timeouts and a graceful stop:
 * stop accepting, let requests in flight finish (up to a limit), then cut what is left.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Logger } from '../logger';

/** A request (headers and body) must arrive within this; `Prefer: wait` is at most 30 s of it. */
const requestTimeoutMs = 60_000;
const headersTimeoutMs = 10_000;
const keepAliveTimeoutMs = 5_000;
/** How long a stop waits for requests in flight before closing their connections. */
export const drainTimeoutMs = 35_000;

export interface HttpServer {
  /** Where it listens, e.g. `http://127.0.0.1:8081`. */
  url: string;
  port: number;
  /** Stops accepting connections, waits for requests in flight, then closes. */
  stop(): Promise<void>;
}

export async function startHttpServer(
  app: Express,
  options: { host: string; port: number },
  logger: Logger,
): Promise<HttpServer> {
  const server = http.createServer(
    { requestTimeout: requestTimeoutMs, headersTimeout: headersTimeoutMs, keepAliveTimeout: keepAliveTimeoutMs },
    app,
  );
  server.listen(options.port, options.host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw new Error(`cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`);
    }),
  ]);
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  logger.info({ url }, 'HTTP API listening');
  return {
    url,
    port,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        logger.warn({ drainTimeoutMs }, 'requests still in flight at shutdown: closing their connections');
        server.closeAllConnections();
      }, drainTimeoutMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
