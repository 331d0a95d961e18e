/** The worker's probe and metrics endpoints over real HTTP (createApp without main). */
import { createServer, type Server } from 'node:http';
import { Registry, Counter } from 'prom-client';
import { createApp } from './app';

describe('worker app', () => {
  let server: Server;
  let base: string;
  let draining = false;
  let redisUp = true;
  beforeAll(async () => {
    const register = new Registry();
    new Counter({ name: 'switchboard_tasks_total', help: 'x', registers: [register] }).inc();
    server = createServer(createApp({ register, ping: async () => { if (!redisUp) throw new Error('Connection is closed'); }, isDraining: () => draining }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('/healthz always; /readyz follows Redis and the drain; /metrics is Prometheus text; other paths 404', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    redisUp = false;
    const down = await fetch(`${base}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'unavailable', reason: 'Connection is closed' });
    redisUp = true;
    draining = true;
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'draining' });
    draining = false;
    const m = await fetch(`${base}/metrics`);
    expect(m.headers.get('content-type')).toContain('text/plain');
    expect(await m.text()).toContain('switchboard_tasks_total 1');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

});
