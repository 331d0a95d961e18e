/**
 * Rate-limit counters on a real Redis behind a real node:http server: their keys are built by keys.ts
 * (`rateLimitPrefix` + `rateLimitSubject`), never carry the raw principal (client-influenced text such as a
 * JWT `sub`), and expire with their window; the limits still hold.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRedis, type RedisServer } from '@switchboard/test-helpers';
import { createRedisClient, keys, type RedisLike } from '@switchboard/store';
import { RateLimits, type TenantLimits } from './rate-limit';

const PRINCIPAL = 'alice@example.com:evil*{tag}';
const limits: TenantLimits = { tenant: { limit: 100, windowMs: 60_000 }, principal: { limit: 2, windowMs: 60_000 }, methods: { 'tools/call': { limit: 50, windowMs: 30_000 } } };

describe('rate-limit keys', () => {
  let redis: RedisServer;
  let client: RedisLike;
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    redis = await startRedis();
    client = createRedisClient(redis.url);
    const rl = new RateLimits({ redis: client, onLimited: () => {} });
    server = http.createServer((req, res) => {
      rl.check(req, res, 't1', PRINCIPAL, ['tools/call'], limits).then(
        (ok) => ok && res.writeHead(200).end('ok'),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }, 30_000);
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    client?.disconnect();
    await redis?.stop();
  });

  test('counters live under keys.ts names, hash the principal, expire, and still limit', async () => {
    expect((await fetch(url)).status).toBe(200);
    const stored = (await client.keys('*')).sort();
    expect(stored).toEqual(
      [
        keys.rateLimitPrefix('t1', 'tenant', 100, 60_000) + keys.rateLimitSubject('tenant', PRINCIPAL),
        keys.rateLimitPrefix('t1', 'principal', 2, 60_000) + keys.rateLimitSubject('principal', PRINCIPAL),
        keys.rateLimitPrefix('t1', 'method', 50, 30_000) + keys.rateLimitSubject('method', PRINCIPAL, 'tools/call'),
      ].sort(),
    );
    for (const k of stored) {
      expect(k).not.toContain('alice');
      expect(k).not.toContain('{');
      const ttl = await client.pttl(k);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(url)).status).toBe(429); // the principal's 2 per window
  });
});
