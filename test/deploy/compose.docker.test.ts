/**
 * docker-compose.yml for real: the project's images built from their Dockerfiles exactly as users build
 * them (`docker build -f apps/edge/Dockerfile .`), the topology started with compose (Redis, 3 edges, nginx,
 * Prometheus; every service whose image is built here or present locally — Grafana has no local stand-in),
 * and then:
 *  - an SDK client initializes and calls tools through nginx (published on 127.0.0.1 only);
 *  - an edge container is stopped (SIGTERM, drain) and started again mid-session while calls are in flight:
 *    the session, every in-flight call's progress and every notification on the session's GET stream
 *    (resumed with Last-Event-ID) arrive exactly once;
 *  - the containers run as the compose file declares (docker inspect + what the process itself sees);
 *  - a task (MCP 2025-11-25) created through nginx runs on the worker container and is read on the edges;
 *  - Prometheus in the stack scrapes the three edges and the worker;
 *  - `down` leaves nothing behind: containers, networks, volumes and the images this test built.
 * Services come from the compose file: a new service with `build:` (e.g. a worker) is built and started
 * without changing this test. Base images: scripts/local-images.sh. Engine: scripts/ensure-docker.sh.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { composeCli, docker, dockerUnavailableReason, freePort, runDocker, sleep, waitFor } from '@switchboard/test-helpers';

const ROOT = path.resolve(__dirname, '../..');
const reason = dockerUnavailableReason();
if (reason && process.env.CI !== 'true') console.warn(`compose.docker.test.ts skipped: ${reason}`);
const suite = !reason || process.env.CI === 'true' ? describe : describe.skip;

const PROJECT = `sbdeploy${randomBytes(3).toString('hex')}`;
const RUN_ID = randomBytes(3).toString('hex');
const COMPOSE = composeCli();

/** `${VAR:-default}` / `${VAR}` as compose interpolates them. */
const interpolate = (s: string, env: Record<string, string | undefined>) => s.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, k: string, d?: string) => env[k] ?? d ?? '');

interface Service {
  name: string;
  image: string;
  build?: { context: string; dockerfile: string };
  spec: Record<string, any>;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

suite('docker compose stack (images built from the repo, Redis, 3 edges, a worker, nginx, Prometheus)', () => {
  const env: Record<string, string> = {};
  let services: Service[] = [];
  let running: Service[] = [];
  const built: string[] = [];
  let lb = '';
  let promUrl = '';
  let downDone = false;
  const report: string[] = [];

  const compose = (args: string[], timeoutMs = 180_000) => docker(['-p', PROJECT, '-f', path.join(ROOT, 'docker-compose.yml'), ...args], { cmd: COMPOSE, env, cwd: ROOT, timeoutMs });
  const containerOf = async (service: string) => (await compose(['ps', '-q', service])).trim();
  const inspect = async (id: string) => JSON.parse(await docker(['inspect', id]))[0];

  beforeAll(async () => {
    if (reason) throw new Error(`CI=true and the Docker suites cannot run: ${reason}`);
    Object.assign(env, {
      SWITCHBOARD_HTTP_PORT: String(await freePort()),
      SWITCHBOARD_PROMETHEUS_PORT: String(await freePort()),
      SWITCHBOARD_GRAFANA_PORT: String(await freePort()),
      SWITCHBOARD_EDGE_IMAGE: `switchboard/edge:test-${RUN_ID}`,
      SWITCHBOARD_WORKER_IMAGE: `switchboard/worker:test-${RUN_ID}`,
    });
    const file = YAML.parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
    services = Object.entries<any>(file.services).map(([name, spec]) => ({ name, spec, image: interpolate(spec.image, { ...process.env, ...env }), build: spec.build }));

    // The project's images, as users build them (one build per distinct image).
    for (const s of services.filter((x) => x.build)) {
      if (built.includes(s.image)) continue;
      const t0 = Date.now();
      await docker(['build', '-f', s.build!.dockerfile, '-t', s.image, s.build!.context], { cwd: ROOT, timeoutMs: 900_000 });
      built.push(s.image);
      report.push(`built ${s.image} from ${s.build!.dockerfile} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    const present = async (image: string) => (await runDocker(['image', 'inspect', image])).code === 0;
    for (const s of services) if (built.includes(s.image) || (await present(s.image))) running.push(s);
    const skipped = services.filter((s) => !running.includes(s)).map((s) => `${s.name} (${s.image} not present)`);
    if (skipped.length) report.push(`not started: ${skipped.join(', ')}`);
    for (const image of [...new Set(running.map((s) => s.image))]) {
      const size = Number((await docker(['image', 'inspect', '-f', '{{.Size}}', image])).trim());
      report.push(`image ${image}: ${mb(size)}`);
    }

    const t0 = Date.now();
    await compose(['up', '-d', '--no-build', ...running.map((s) => s.name)], 300_000);
    lb = `http://127.0.0.1:${env.SWITCHBOARD_HTTP_PORT}`;
    promUrl = `http://127.0.0.1:${env.SWITCHBOARD_PROMETHEUS_PORT}`;
    await waitFor(async () => (await fetch(`${lb}/healthz`).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, message: 'nginx → edges /healthz' });
    report.push(`compose up (${running.length} services) healthy in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 1_200_000);

  afterAll(async () => {
    if (!downDone) {
      await runDocker(['-p', PROJECT, '-f', path.join(ROOT, 'docker-compose.yml'), 'down', '-v', '--remove-orphans', '-t', '5'], { cmd: COMPOSE, env, cwd: ROOT, timeoutMs: 120_000 });
      for (const image of built) await runDocker(['rmi', '-f', image]);
    }
    console.log(`compose stack (${COMPOSE.join(' ')}, project ${PROJECT}):\n  ${report.join('\n  ')}`);
  }, 180_000);

  /** A 2025-11-25 SDK session through nginx that records its standalone-stream notifications. */
  async function connect(label: string) {
    const seqs: number[] = [];
    let probed = false;
    const retried: string[] = [];
    // nginx answers with its own HTML page when it cannot connect to the edge it picked (a stopped container):
    // 502 (unreachable) or 504 (proxy_connect_timeout; proxy_read_timeout is 1 h, so a 504 here is always the
    // connect). The request never reached an edge, so sending it again is safe. The edges never answer HTML.
    const retryingFetch: typeof fetch = async (input, init) => {
      for (let attempt = 1; ; attempt++) {
        const res = await fetch(input, init);
        if ((res.status !== 502 && res.status !== 504) || !res.headers.get('content-type')?.includes('text/html') || attempt >= 4) return res;
        retried.push(`${init?.method ?? 'GET'} → ${res.status}`);
        await res.arrayBuffer();
      }
    };
    const transport = new StreamableHTTPClientTransport(new URL(`${lb}/mcp`), { fetch: retryingFetch });
    const client = new Client({ name: label, version: '1.0.0' }, { capabilities: {} });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      const data = n.params.data as { tag?: string; seq?: number } | undefined;
      if (n.params.logger !== 'emit_sequence' || typeof data?.seq !== 'number') return;
      if (data.tag === label) seqs.push(data.seq);
      if (data.tag === `${label}-probe`) probed = true;
    });
    await client.connect(transport);
    // The SDK opens its GET stream in the background after `initialized`; what is sent before it is open has
    // no stream to go to. Probe until one arrives.
    let probes = 0;
    await waitFor(
      async () => {
        await client.callTool({ name: 'emit_sequence', arguments: { tag: `${label}-probe`, from: probes++ } });
        await sleep(100);
        return probed;
      },
      { timeoutMs: 20_000, intervalMs: 0, message: `the GET stream of ${label} delivers` },
    );
    return { client, transport, seqs, retried };
  }

  const text = (r: { content?: unknown } | Record<string, unknown>) => ((r as { content?: { text?: string }[] }).content ?? [])[0]?.text;

  test('an SDK client initializes and calls tools through nginx', async () => {
    const { client, transport } = await connect('basic');
    try {
      expect(transport.sessionId).toMatch(/^[0-9a-f]{32}$/);
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'slow_counter', 'emit_sequence']));
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'through nginx' } }))).toBe('through nginx');
      const progress: number[] = [];
      const r = await client.callTool({ name: 'slow_counter', arguments: { count: 5, delayMs: 20 } }, CallToolResultSchema, { onprogress: (p) => progress.push(p.progress) });
      expect([text(r), progress]).toEqual(['counted to 5', [1, 2, 3, 4, 5]]);
    } finally {
      await client.close();
    }
  }, 60_000);

  test('an edge container stopped and started mid-session: nothing is lost', async () => {
    const { client, transport, seqs, retried } = await connect('restart');
    const sid = transport.sessionId;
    let next = 0;
    const emitted: number[] = [];
    const emit = async () => {
      const seq = next++;
      const r = await client.callTool({ name: 'emit_sequence', arguments: { tag: 'restart', from: seq } });
      expect(text(r)).toBe('sent 1');
      emitted.push(seq);
    };
    const echo = async (s: string) => expect(text(await client.callTool({ name: 'echo', arguments: { text: s } }))).toBe(s);
    try {
      for (let i = 0; i < 3; i++) await emit(), await echo(`before ${i}`);
      // Calls in flight (progress streamed, ~2 s each; round-robin spreads them over the edges) while edge-2 drains.
      const slow = Array.from({ length: 6 }, () => {
        const progress: number[] = [];
        return client.callTool({ name: 'slow_counter', arguments: { count: 20, delayMs: 100 } }, CallToolResultSchema, { onprogress: (p) => progress.push(p.progress), timeout: 60_000 }).then((r) => ({ text: text(r), progress }));
      });
      await sleep(300);
      const edge2 = await containerOf('edge-2');
      const t0 = Date.now();
      await docker(['stop', '-t', '20', edge2]);
      const stopMs = Date.now() - t0;
      expect((await inspect(edge2)).State).toMatchObject({ Running: false, ExitCode: 0 });
      for (let i = 0; i < 6; i++) await emit(), await echo(`down ${i}`);

      await docker(['start', edge2]);
      await waitFor(async () => (await inspect(edge2)).State.Health?.Status === 'healthy', { timeoutMs: 60_000, intervalMs: 500, message: 'edge-2 healthy again' });
      for (let i = 0; i < 9; i++) await emit(), await echo(`up ${i}`);

      const results = await Promise.all(slow);
      expect(results).toEqual(results.map(() => ({ text: 'counted to 20', progress: Array.from({ length: 20 }, (_, k) => k + 1) })));
      // (On a timeout the comparison below names what is missing.)
      await waitFor(() => seqs.length >= emitted.length, { timeoutMs: 15_000 }).catch(() => undefined);
      await sleep(300); // a duplicate would arrive about now
      expect([...seqs].sort((a, b) => a - b)).toEqual(emitted);
      expect(transport.sessionId).toBe(sid);

      // The restarted edge serves the session again (it rebuilds the instance from Redis).
      // nginx may keep the restarted edge out of rotation for its fail_timeout (10 s) after the failed
      // attempts during the stop: go on calling until it has served the session's requests again.
      const servedByEdge2 = async () => {
        const text = await docker(['exec', edge2, '/nodejs/bin/node', '-e', "fetch('http://127.0.0.1:9464/metrics').then((r) => r.text()).then((t) => console.log(t))"]);
        return text.split('\n').filter((l) => l.startsWith('switchboard_requests_total{')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      };
      let extra = 0;
      const served = String(
        await waitFor(
          async () => {
            await echo(`after ${extra++}`);
            const n = await servedByEdge2();
            return n > 0 ? n : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 250, message: 'the restarted edge-2 serves the session again' },
        ),
      );
      report.push(
        `edge-2 stop (SIGTERM, drain) took ${stopMs} ms; ${emitted.length} notifications sent = received once each; 6 in-flight calls complete (progress 1..20 each); ` +
          `${retried.length} request(s) answered by nginx itself (${[...new Set(retried)].join(', ')}: stopped upstream, never delivered) and resent; edge-2 served ${served.trim()} requests after restart`,
      );
    } finally {
      await client.close();
    }
  }, 180_000);

  test('a task created through nginx runs on the worker container; its status and result are read on the edges', async () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
    let id = 0;
    const rpc = async (method: string, params: Record<string, unknown>, sid?: string) => {
      const res = await fetch(`${lb}/mcp`, { method: 'POST', headers: { ...headers, ...(sid ? { 'mcp-session-id': sid } : {}) }, body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) });
      const body = await res.text();
      // JSON, or an SSE stream whose last data line is the answer.
      const json = res.headers.get('content-type')?.includes('text/event-stream') ? body.split('\n').filter((l) => l.startsWith('data:')).pop()!.slice(5) : body;
      return { sid: res.headers.get('mcp-session-id'), msg: JSON.parse(json) as Record<string, any> };
    };
    const init = await rpc('initialize', { protocolVersion: '2025-11-25', capabilities: { tasks: {} }, clientInfo: { name: 'compose-tasks', version: '1.0.0' } });
    const sid = init.sid!;
    expect(init.msg.result.capabilities.tasks).toMatchObject({ requests: { tools: { call: {} } } });
    await fetch(`${lb}/mcp`, { method: 'POST', headers: { ...headers, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    const created = await rpc('tools/call', { name: 'long_job', arguments: { steps: 4, delayMs: 100 }, task: { ttl: 60_000 } }, sid);
    const taskId = created.msg.result.task.taskId as string;
    expect(created.msg.result.task.status).toBe('working');
    const polls: string[] = [];
    const done = await waitFor(
      async () => {
        const r = await rpc('tasks/get', { taskId }, sid);
        polls.push(r.msg.result.status);
        return r.msg.result.status === 'working' ? undefined : r.msg.result;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'the task completes on the worker' },
    );
    expect(done).toMatchObject({ taskId, status: 'completed', statusMessage: 'step 4/4' });
    expect((await rpc('tasks/result', { taskId }, sid)).msg.result.content).toEqual([{ type: 'text', text: 'done 4' }]);
    // The worker ran it (the edges only enqueue: compose starts them without WORKER_CONCURRENCY): its own
    // metrics, read inside its container (the port is not published).
    const metrics = await docker(['exec', await containerOf('worker'), '/nodejs/bin/node', '-e', "fetch('http://127.0.0.1:3100/metrics').then((r) => r.text()).then((t) => console.log(t))"]);
    expect(Number(/switchboard_tasks_total\{[^}]*outcome="completed"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    report.push(`task ${taskId.slice(0, 8)}… completed on the worker container; ${polls.length} tasks/get polls through nginx`);
  }, 60_000);

  test('the containers run as the compose file declares (read-only root, non-root user, no capabilities)', async () => {
    const rows: string[] = [];
    // One service after another: each check is a few docker calls, slow only on a loaded host.
    for (const s of running) {
      const c = await inspect(await containerOf(s.name));
      const hc = c.HostConfig;
      const declared = { readOnly: s.spec.read_only === true, capDrop: s.spec.cap_drop ?? null, noNewPrivileges: (s.spec.security_opt ?? []).includes('no-new-privileges:true'), tmpfs: (s.spec.tmpfs ?? []).sort() };
      const actual = { readOnly: hc.ReadonlyRootfs, capDrop: hc.CapDrop ?? null, noNewPrivileges: (hc.SecurityOpt ?? []).includes('no-new-privileges:true'), tmpfs: Object.keys(hc.Tmpfs ?? {}).sort() };
      expect([s.name, actual]).toEqual([s.name, declared]);
      expect([s.name, hc.CapAdd ?? null, hc.Privileged]).toEqual([s.name, null, false]);
      rows.push(`${s.name}: user=${c.Config.User || 'root'} readOnly=${actual.readOnly} capDrop=${JSON.stringify(actual.capDrop)}`);
      if (!s.build) continue;
      // The project's own images: non-root, and what the process sees matches.
      expect(c.Config.User).toMatch(/^[1-9]\d*(:\d+)?$/);
      const seen = await docker([
        'exec',
        c.Id,
        '/nodejs/bin/node',
        '-e',
        `const fs = require('node:fs');
         let rootWritable = true; try { fs.writeFileSync('/probe', 'x'); } catch (e) { rootWritable = e.code !== 'EROFS'; }
         fs.writeFileSync('/tmp/probe', 'x');
         const capEff = fs.readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\\s*(\\S+)/m)[1];
         console.log(JSON.stringify({ uid: process.getuid(), rootWritable, tmpWritable: true, capEff }));`,
      ]);
      expect([s.name, JSON.parse(seen)]).toEqual([s.name, { uid: Number(c.Config.User.split(':')[0]), rootWritable: false, tmpWritable: true, capEff: '0000000000000000' }]);
    }
    report.push(...rows);
  }, 240_000);

  test('Prometheus in the stack scrapes the three edges and the worker', async () => {
    if (!running.some((s) => s.name === 'prometheus')) throw new Error('prometheus is not running');
    const targets = await waitFor(
      async () => {
        const r = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as { data: { activeTargets: { labels: { instance: string }; health: string }[] } };
        const t = r.data.activeTargets;
        return t.length === 4 && t.every((x) => x.health === 'up') ? t : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 1_000, message: 'four healthy scrape targets' },
    );
    expect(targets.map((t) => t.labels.instance).sort()).toEqual(['edge-1:9464', 'edge-2:9464', 'edge-3:9464', 'worker:3100']);
    const q = (await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('sum by (node) (switchboard_ready)')}`)).json()) as { data: { result: { metric: { node: string } }[] } };
    expect(q.data.result.map((r) => r.metric.node).sort()).toEqual(['edge-1', 'edge-2', 'edge-3']);
  }, 60_000);

  test('`down` leaves nothing behind (containers, networks, volumes, built images)', async () => {
    const t0 = Date.now();
    await compose(['down', '-v', '--remove-orphans', '-t', '20']);
    for (const image of built) await docker(['rmi', image]);
    downDone = true;
    report.push(`down + image removal in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const label = `label=com.docker.compose.project=${PROJECT}`;
    const left = {
      containers: (await docker(['ps', '-aq', '--filter', label])).trim(),
      networks: (await docker(['network', 'ls', '-q', '--filter', label])).trim(),
      volumes: (await docker(['volume', 'ls', '-q', '--filter', label])).trim(),
      images: (await Promise.all(built.map(async (i) => ((await runDocker(['image', 'inspect', i])).code === 0 ? i : '')))).join(''),
    };
    expect(left).toEqual({ containers: '', networks: '', volumes: '', images: '' });
  }, 120_000);
});
