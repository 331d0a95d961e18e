/**
 * Diagnosis for the idle-session memory target: the retained heap of one MCP server *instance*, the
 * thing a node keeps per session (our edge: one demo-server McpServer per session it serves, kept until
 * it has been idle `instanceIdleMs`; the SDK v1 stateful peer: one McpServer + transport per session).
 * Run as `node --expose-gc probe/instance-cost.mjs [count]`; prints one JSON line:
 * `{ name: { perInstanceBytes, buildCpuUs, tools } }` for each factory. `perInstanceBytes`: GC'd heap
 * delta over `count` kept instances / count; `buildCpuUs`: process CPU (user + system) to build one,
 * median of 5 rounds of `count` builds after a warm-up (what a rehydration, or a 2026-07-28 request,
 * pays before the server sees a message). For the demo server also `rehydrateCpuUs`: build + connect +
 * the replayed `initialize` / `notifications/initialized` a node runs to rebuild a released session's
 * instance (LocalSession.rehydrate, minus the store read the request makes anyway).
 */
import { createDemoServer } from '@switchboard/demo-server';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createV1Server } from '../peers/tools-v1.mjs';
import * as z from 'zod';

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
const COUNT = Number(process.argv[2] ?? 300);

function minimalV2() {
  const server = new McpServerV2({ name: 'min-v2', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool('echo', { description: 'echo', inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  return server;
}
function emptyV2() {
  return new McpServerV2({ name: 'empty-v2', version: '1.0.0' }, { capabilities: {} });
}
function emptyV1() {
  return new McpServerV1({ name: 'empty-v1', version: '1.0.0' }, { capabilities: {} });
}

const toolCount = (s) => Object.keys(s._registeredTools ?? {}).length;

function measure(factory) {
  // one throwaway instance first: module-level caches (compiled schemas etc.) are not per-session cost
  const first = factory();
  const keep = [];
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < COUNT; i++) keep.push(factory());
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const bytes = Math.round((after - before) / COUNT);
  keep.length = 0;
  for (let i = 0; i < COUNT; i++) factory(); // warm-up (JIT), not measured
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < COUNT; i++) factory();
    const d = process.cpuUsage(t0);
    rounds.push((d.user + d.system) / COUNT);
  }
  rounds.sort((a, b) => a - b);
  return { perInstanceBytes: bytes, buildCpuUs: Math.round(rounds[2] * 10) / 10, tools: toolCount(first), kept: COUNT };
}

/** A transport that answers in-process, like the edge's EdgeTransport minus the routing. */
function replayTransport() {
  let answer;
  const t = {
    start: async () => {},
    close: async () => t.onclose?.(),
    send: async (m) => answer?.(m),
    next: () => new Promise((resolve) => (answer = resolve)),
  };
  return t;
}
const INIT = { protocolVersion: '2025-11-25', capabilities: { roots: { listChanged: true } }, clientInfo: { name: 'probe', version: '0' } };

async function rehydrateOnce(factory) {
  const server = factory();
  const t = replayTransport();
  await server.connect(t);
  const answered = t.next();
  t.onmessage({ jsonrpc: '2.0', id: 'sb-internal-1', method: 'initialize', params: INIT });
  const res = await answered;
  if (!res.result) throw new Error('initialize failed');
  t.onmessage({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return server;
}

async function rehydrateCpuUs(factory) {
  for (let i = 0; i < COUNT; i++) await (await rehydrateOnce(factory)).close(); // warm-up
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < COUNT; i++) await (await rehydrateOnce(factory)).close();
    const d = process.cpuUsage(t0);
    rounds.push((d.user + d.system) / COUNT);
  }
  rounds.sort((a, b) => a - b);
  return Math.round(rounds[2] * 10) / 10;
}

const out = {
  'demo-server createDemoServer() (what the edge holds per session)': { ...measure(() => createDemoServer()), rehydrateCpuUs: await rehydrateCpuUs(() => createDemoServer()) },
  'SDK v2 McpServer, 1 tool': measure(minimalV2),
  'SDK v2 McpServer, no tools': measure(emptyV2),
  'SDK v1 McpServer, the 3 bench tools (peer)': measure(createV1Server),
  'SDK v1 McpServer, no tools': measure(emptyV1),
};
process.stdout.write(JSON.stringify(out) + '\n');
