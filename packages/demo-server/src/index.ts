/**
 * Switchboard demo MCP server.
 *
 * `createDemoServer()` builds a fresh SDK v2 `McpServer` (one per session per
 * node). It carries two groups of capabilities:
 *
 * 1. The fixed fixtures the official MCP conformance suite probes
 *    (tools `test_*`, resources `test://…`, prompts `test_*`, completion,
 *    logging, subscriptions, the 2025-11-25 elicitation fixtures, the
 *    JSON-Schema-2020-12 tool and the SSE-polling `test_reconnection` tool).
 * 2. Switchboard's own demo tools used by the multi-node e2e tests and the
 *    benchmarks (`slow_counter`, `list_roots`, `trigger_list_changed`,
 *    `wait_for_cancel`, `echo`, `emit_sequence`).
 *
 * Every message a tool sends *because of* a request (progress, logs,
 * elicitation, sampling, roots) is tied to that request (`relatedRequestId`),
 * so a Streamable HTTP transport delivers it on the request's own POST stream.
 * `trigger_list_changed` and `emit_sequence` (unless asked for `related`) are the
 * deliberate exceptions: their notifications are unrelated and belong on the
 * session's standalone GET stream.
 *
 * The 2026-07-28 fixtures (MRTR, listen triggers, stateless diagnostics) live in
 * `fixtures-2026.ts`; they serve 2025 sessions too, through the SDK's legacy shim.
 *
 * A node builds one instance per session it serves (and per 2026-07-28 request), so everything that can be
 * shared is built once per process: schemas, metadata, static content and handlers live at module scope
 * and an instance holds only its registrations and per-session state (`test/bench/probe/instance-cost.mjs`).
 */
import { createRequestStateCodec, McpServer, type McpServerOptions } from '@modelcontextprotocol/server';
import { randomBytes } from 'node:crypto';
import { registerFixtures2026, type FixtureDeps2026 } from './fixtures-2026';
import { registerDemoTools } from './demo-tools';
import { registerTaskTools } from './task-tools';
import { registerTaskFixtures } from './task-fixtures';
import { registerFixturePrompts, registerFixtureResources } from './fixture-content';
import { registerFixtureTools } from './fixture-tools';
import { DEMO_SERVER_NAME, DEMO_SERVER_VERSION } from './names';

export { RED_PIXEL_PNG_BASE64, SILENT_WAV_BASE64 } from './assets';
export { DEMO_SERVER_NAME, DEMO_SERVER_VERSION } from './names';
export { FIXTURE_TOOL_NAMES, JSON_SCHEMA_2020_12_INPUT } from './fixture-tools';
export { DEMO_TOOL_NAMES } from './demo-tools';
export { TASK_TOOL_NAMES, LONG_JOB_TASK_META } from './task-tools';
export { TASK_FIXTURE_TOOL_NAMES } from './task-fixtures';
export { FIXTURE_TOOL_NAMES_2026, cancellationProbeUri, type FixtureDeps2026 } from './fixtures-2026';

/** What a deployment plugs into the demo server; everything is optional for standalone use. */
export interface DemoServerOptions {
  /**
   * Seals MRTR `requestState` and verifies it on re-entry. Absent: the SDK's HMAC codec with a key random to
   * this process, which is only right when one process serves every round (tests, a single node).
   */
  requestState?: FixtureDeps2026['requestState'];
  /** The tenant's change-event bus, for the 2026-07-28 listen triggers. Absent: nothing is published. */
  events?: FixtureDeps2026['events'];
}

let processLocalCodec: FixtureDeps2026['requestState'] | undefined;
const defaultRequestStateCodec = () => (processLocalCodec ??= createRequestStateCodec({ key: randomBytes(32) }));

const SERVER_INFO = { name: DEMO_SERVER_NAME, version: DEMO_SERVER_VERSION };
const CAPABILITIES = {
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  logging: {},
  completions: {},
};
const INSTRUCTIONS = 'Switchboard demo server: MCP conformance fixtures plus Switchboard demo tools.';

/** Server options per codec (a tenant has one codec): built once, read (never mutated) by every instance. */
const optionsByCodec = new WeakMap<FixtureDeps2026['requestState'], McpServerOptions>();
function serverOptions(requestState: FixtureDeps2026['requestState']): McpServerOptions {
  let o = optionsByCodec.get(requestState);
  if (!o) {
    // verify runs before any handler sees an echoed requestState; a throw answers -32602 on the wire.
    o = { capabilities: CAPABILITIES, instructions: INSTRUCTIONS, requestState: { verify: requestState.verify } };
    optionsByCodec.set(requestState, o);
  }
  return o;
}

/** Creates a new, unconnected demo server. Call once per session (2025 era) or per request (2026-07-28). */
export function createDemoServer(options: DemoServerOptions = {}): McpServer {
  const requestState = options.requestState ?? defaultRequestStateCodec();
  const server = new McpServer(SERVER_INFO, serverOptions(requestState));

  // The one piece of per-session state: resource subscriptions (session_state reports them).
  const subscribed = new Set<string>();
  registerFixtureTools(server);
  registerDemoTools(server, subscribed);
  registerTaskTools(server);
  registerTaskFixtures(server);
  registerFixtureResources(server, subscribed);
  registerFixturePrompts(server);
  registerFixtures2026(server, { requestState, events: options.events });
  return server;
}
