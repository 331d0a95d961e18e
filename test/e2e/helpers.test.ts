/**
 * Self-test for @switchboard/test-helpers: the Redis, Redis Cluster, nginx and process helpers
 * behave as the multi-node suites assume. Uses only real processes.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  collectSse,
  freePort,
  liveProcessCount,
  makeTempDir,
  removeTempDir,
  readSse,
  startCluster,
  startEdge,
  startNginx,
  startRedis,
  startRedisCluster,
  waitFor,
  withTimeout,
  type RedisServer,
} from '@switchboard/test-helpers';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Upstream {
  port: number;
  requests: { method: string; host?: string; xff?: string; xfp?: string }[];
  close(): Promise<void>;
}

/** A tiny node:http upstream that answers with its own port; `/sse` streams until released. */
async function startUpstream(sse: { release: Promise<void>; finished: () => void }): Promise<Upstream> {
  const requests: Upstream['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({
      method: req.method!,
      host: req.headers.host,
      xff: req.headers['x-forwarded-for'] as string | undefined,
      xfp: req.headers['x-forwarded-proto'] as string | undefined,
    });
    const port = (server.address() as AddressInfo).port;
    if (req.url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': comment lines are ignored\r\nid: 1\r\ndata: first\r\ndata: from ' + port + '\r\n\r\n');
      void sse.release.then(() => {
        res.end('id: 2\nevent: done\ndata: second\n\n');
        sse.finished();
      });
      return;
    }
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ port, host: req.headers.host })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

afterAll(() => {
  // Every helper-started process has been stopped by the tests' own cleanup.
  expect(liveProcessCount()).toBe(0);
});

describe('startRedis', () => {
  let redis: RedisServer;
  afterEach(() => redis?.stop());

  it('answers on a private port, and restart keeps the port but loses the data', async () => {
    redis = await startRedis();
    expect(redis.port).not.toBe(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const client = redis.client();
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);

    const firstPid = redis.pid();
    await redis.restart();
    expect(redis.pid()).not.toBe(firstPid);
    expect(pidAlive(firstPid)).toBe(false);
    // The same client reconnects to the same port and finds an empty server.
    expect(await waitFor(async () => (await client.ping()) === 'PONG', { timeoutMs: 5_000 })).toBe(true);
    expect(await client.get('k')).toBeNull();
  });

  it('kill() is a crash (SIGKILL) and stop() is idempotent', async () => {
    redis = await startRedis();
    const pid = redis.pid();
    await redis.kill();
    expect(pidAlive(pid)).toBe(false);
    await redis.stop();
    await redis.stop();
  });
});

describe('startRedisCluster', () => {
  it('serves keys from three slots owned by three different masters', async () => {
    const cluster = await startRedisCluster({ masters: 3 });
    try {
      expect(cluster.ports).toHaveLength(3);
      expect(cluster.url).toBe(`redis-cluster://${cluster.ports.map((p) => `127.0.0.1:${p}`).join(',')}`);
      const client = cluster.client();

      // Find one key per master: slot → owner from CLUSTER SLOTS, slot of a key from CLUSTER KEYSLOT.
      const direct = cluster.nodes[0]!.client();
      const slots = await direct.cluster('SLOTS');
      const ownerOf = (slot: number) => slots.find(([from, to]) => slot >= from && slot <= to)![2]![1];
      const keyFor = new Map<number, string>();
      for (let i = 0; keyFor.size < 3 && i < 1000; i++) {
        const key = `test-key-${i}`;
        const owner = ownerOf((await direct.cluster('KEYSLOT', key)) as number);
        if (!keyFor.has(owner)) keyFor.set(owner, key);
      }
      expect([...keyFor.keys()].sort()).toEqual([...cluster.ports].sort());

      for (const [port, key] of keyFor) await client.set(key, `value-on-${port}`);
      for (const [port, key] of keyFor) {
        expect(await client.get(key)).toBe(`value-on-${port}`);
        // The key really lives on that master.
        const node = cluster.nodes.find((n) => n.port === port)!;
        expect(await node.client().get(key)).toBe(`value-on-${port}`);
      }
    } finally {
      await cluster.stop();
      await cluster.stop();
    }
  });
});

describe('startNginx', () => {
  let upstreams: Upstream[] = [];
  let releaseSse!: () => void;
  let sseFinished = false;

  beforeEach(async () => {
    const release = new Promise<void>((resolve) => (releaseSse = resolve));
    sseFinished = false;
    const sse = { release, finished: () => (sseFinished = true) };
    upstreams = [await startUpstream(sse), await startUpstream(sse)];
  });
  afterEach(async () => {
    releaseSse();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it('round-robins requests across upstreams and passes Host and X-Forwarded-*', async () => {
    const nginx = await startNginx({ upstreams: upstreams.map((u) => u.port) });
    try {
      const seen: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${nginx.url}/whoami`, { signal: AbortSignal.timeout(5_000) });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { port: number; host: string };
        expect(body.host).toBe(`127.0.0.1:${nginx.port}`);
        seen.push(body.port);
      }
      for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
      expect(new Set(seen)).toEqual(new Set(upstreams.map((u) => u.port)));
      const forwarded = upstreams.flatMap((u) => u.requests)[0]!;
      expect(forwarded.xff).toBe('127.0.0.1');
      expect(forwarded.xfp).toBe('http');
      expect(nginx.accessLog()).toContain(`upstream=127.0.0.1:${upstreams[0]!.port}`);
    } finally {
      await nginx.stop();
      await nginx.stop();
    }
  });

  it('streams SSE without buffering: the first event arrives before the upstream finishes', async () => {
    const nginx = await startNginx({ upstreams: upstreams.map((u) => u.port) });
    try {
      const res = await fetch(`${nginx.url}/sse`, { signal: AbortSignal.timeout(10_000) });
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      const events = readSse(res);
      const first = await withTimeout(events.next(), 3_000, 'first SSE event did not arrive through nginx');
      expect(first.value).toEqual({ id: '1', data: expect.stringMatching(/^first\nfrom \d+$/) });
      expect(sseFinished).toBe(false);

      releaseSse();
      const rest = [];
      for await (const ev of events) rest.push(ev);
      expect(rest).toEqual([{ id: '2', event: 'done', data: 'second' }]);
      expect(sseFinished).toBe(true);
    } finally {
      await nginx.stop();
    }
  });

  it('does not retry a POST on another upstream (proxy_next_upstream off)', async () => {
    const live = upstreams[0]!;
    const deadPort = await freePort();
    const nginx = await startNginx({ upstreams: [deadPort, live.port] });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${nginx.url}/mcp`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(5_000) });
        statuses.push(res.status);
        await res.arrayBuffer();
      }
      expect(statuses.filter((s) => s === 502)).toHaveLength(1);
      expect(live.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    } finally {
      await nginx.stop();
    }
  });
});

describe('startEdge / startCluster (with a stand-in edge script)', () => {
  // apps/edge is built separately; this script follows the same contract: PORT, HOST, NODE_ID, GET /healthz.
  const dir = makeTempDir('fake-edge');
  const fakeEdge = path.join(dir, 'fake-edge.cjs');
  writeFileSync(
    fakeEdge,
    `const http = require('node:http');
     if (process.env.FAKE_EDGE_CRASH) { console.error('boom: cannot start'); process.exit(3); }
     if (process.env.FAKE_EDGE_IGNORE_SIGTERM) process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
     const server = http.createServer((req, res) => {
       if (req.url === '/healthz') return res.end('ok');
       req.resume();
       req.on('end', () => res.end(JSON.stringify({ nodeId: process.env.NODE_ID, redisUrl: process.env.REDIS_URL })));
     });
     setTimeout(() => server.listen(Number(process.env.PORT), process.env.HOST, () =>
       console.log('listening', process.env.NODE_ID, process.env.PORT)), 200);`,
  );
  afterAll(() => removeTempDir(dir));

  it('waits for /healthz, keeps logs, restarts on the same port, and kills', async () => {
    const edge = await startEdge({ nodeId: 'node-x', entry: fakeEdge });
    try {
      expect(edge.url).toBe(`http://127.0.0.1:${edge.port}`);
      expect(edge.mcpUrl).toBe(`${edge.url}/mcp`);
      expect(edge.logs()).toContain(`listening node-x ${edge.port}`);
      const firstPid = edge.pid;
      await edge.restart();
      expect(edge.pid).not.toBe(firstPid);
      expect(pidAlive(firstPid)).toBe(false);
      expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
      await edge.kill();
      expect(pidAlive(edge.pid)).toBe(false);
    } finally {
      await edge.stop();
    }
  });

  it('fails fast with the log tail when the process exits before it is healthy', async () => {
    const started = Date.now();
    await expect(startEdge({ nodeId: 'node-crash', entry: fakeEdge, env: { FAKE_EDGE_CRASH: '1' } })).rejects.toThrow(
      /node-crash .*exited with code 3[\s\S]*boom: cannot start/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    const edge = await startEdge({ nodeId: 'node-stubborn', entry: fakeEdge, env: { FAKE_EDGE_IGNORE_SIGTERM: '1' } });
    const started = Date.now();
    await edge.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_500);
    expect(pidAlive(edge.pid)).toBe(false);
    expect(edge.logs()).toContain('ignoring SIGTERM');
  }, 20_000);

  it('startCluster puts N edges sharing one Redis behind a round-robin nginx', async () => {
    const cluster = await startCluster({ nodes: 3, redis: 'single', entry: fakeEdge });
    try {
      expect(cluster.nodes.map((n) => n.nodeId)).toEqual(['node-1', 'node-2', 'node-3']);
      expect(cluster.lbMcpUrl).toBe(`${cluster.lbUrl}/mcp`);
      const answers = [];
      for (let i = 0; i < 6; i++) {
        const res = await fetch(cluster.lbMcpUrl, { method: 'POST', body: '{}' });
        answers.push((await res.json()) as { nodeId: string; redisUrl: string });
      }
      expect(new Set(answers.map((a) => a.nodeId))).toEqual(new Set(['node-1', 'node-2', 'node-3']));
      expect(new Set(answers.map((a) => a.redisUrl))).toEqual(new Set([cluster.redisUrl]));
    } finally {
      await cluster.stop();
      await cluster.stop();
    }
    for (const node of cluster.nodes) expect(pidAlive(node.pid)).toBe(false);
  });
});

describe('cleanup', () => {
  it('leaves none of our redis-server or nginx processes running', () => {
    // Only this process's children: other suites (and the machine's redis on :6379) are not ours.
    let children: string[] = [];
    try {
      children = execFileSync('pgrep', ['-a', '-P', String(process.pid)], { encoding: 'utf8' }).trim().split('\n');
    } catch {
      // pgrep exits 1 when nothing matches
    }
    expect(children.filter((line) => /redis-server|nginx/.test(line))).toEqual([]);
    expect(liveProcessCount()).toBe(0);
  });
});
