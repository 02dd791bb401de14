/**
 * Finding or starting Redis (src/redis/resolve-redis.ts): REDIS_URL wins and must answer,
 * within a bounded time; a redis-server from PATH is started on a free port and stopped
 * with its directory; with none of them, the error says how to provide one.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/net';
import { howToProvideRedis, pingRedis, resolveRedis } from '../../src/redis/resolve-redis';

const runRedisUrl = () => process.env.LEDGER_TEST_REDIS_URL as string;

let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'ledger-resolve-redis-'));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

/** A local URL where nothing listens. */
async function closedUrl(credentials = ''): Promise<string> {
  return `redis://${credentials}127.0.0.1:${await freePort()}`;
}

describe('REDIS_URL', () => {
  it('wins over a Redis on the local port', async () => {
    const resolved = await resolveRedis({ url: runRedisUrl(), serverDir: scratch, localUrl: runRedisUrl() });
    expect({ url: resolved.url, source: resolved.source }).toEqual({ url: runRedisUrl(), source: 'REDIS_URL' });
    await resolved.stop();
    expect((await pingRedis(runRedisUrl(), 1_000)).ok).toBe(true);
  });

  it('that nothing answers is an error naming it, without its password, and nothing else is tried', async () => {
    const url = await closedUrl(':hunter2@');
    const failure = await resolveRedis({ url, serverDir: scratch, localUrl: runRedisUrl() }).catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(
      /^REDIS_URL is set, but no Redis answers PING at redis:\/\/127\.0\.0\.1:\d+/,
    );
    expect((failure as Error).message).not.toContain('hunter2');
  });

  it('that accepts connections but never answers fails within a bounded time', async () => {
    const silent = net.createServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await new Promise((resolve) => silent.once('listening', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const started = Date.now();
    try {
      await expect(resolveRedis({ url: `redis://127.0.0.1:${port}`, serverDir: scratch })).rejects.toThrow(
        /REDIS_URL is set, but no Redis answers PING/,
      );
      expect(Date.now() - started).toBeLessThan(6_000);
    } finally {
      silent.close();
    }
  });
});

describe('without REDIS_URL', () => {
  it('uses a Redis answering on the local port', async () => {
    const resolved = await resolveRedis({ url: undefined, serverDir: scratch, localUrl: runRedisUrl() });
    expect({ url: resolved.url, source: resolved.source }).toEqual({ url: runRedisUrl(), source: 'local server' });
    await resolved.stop();
    expect((await pingRedis(runRedisUrl(), 1_000)).ok).toBe(true);
  });

  it('starts a redis-server from PATH when nothing answers there, and stop() ends it and removes its directory', async () => {
    const serverDir = path.join(scratch, 'redis');
    const resolved = await resolveRedis({
      url: undefined,
      serverDir,
      removeServerDir: true,
      localUrl: await closedUrl(),
    });
    expect(resolved.source).toBe('started redis-server');
    expect(resolved.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(resolved.url).not.toBe(runRedisUrl());
    expect((await pingRedis(resolved.url, 1_000)).ok).toBe(true);
    expect(existsSync(path.join(serverDir, 'redis-server.log'))).toBe(true);
    await resolved.stop();
    expect((await pingRedis(resolved.url, 1_000)).ok).toBe(false);
    expect(existsSync(serverDir)).toBe(false);
  });

  it('reports a redis-server that exits at once, with its log, after a bounded number of attempts', async () => {
    const fake = path.join(scratch, 'redis-server');
    writeFileSync(fake, '#!/bin/sh\nexit 1\n');
    chmodSync(fake, 0o755);
    await expect(
      resolveRedis({
        url: undefined,
        serverDir: path.join(scratch, 'dir'),
        localUrl: await closedUrl(),
        serverCommand: fake,
      }),
    ).rejects.toThrow(/redis-server did not start \(3 attempts, each given \d+ ms to answer\); its log .* ends with/);
  });

  it('says how to provide Redis when there is no server and no binary', async () => {
    const failure = resolveRedis({
      url: undefined,
      serverDir: scratch,
      localUrl: await closedUrl(),
      serverCommand: 'redis-server-that-is-not-installed',
    });
    await expect(failure).rejects.toThrow(
      /^no Redis: REDIS_URL is not set, nothing answers at redis:\/\/127\.0\.0\.1:\d+ and redis-server-that-is-not-installed is not on PATH/,
    );
    await expect(failure).rejects.toThrow(howToProvideRedis);
  });
});
