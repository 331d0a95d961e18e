/**
 * The 2026-07-28 conformance fixtures (`--requirements 2026-07-28`): multi-round-trip (MRTR) tools and
 * prompt, the `server-stateless` diagnostics, and the listen triggers; plus `cancellation_probe`, the
 * demo tool Switchboard's tests use to observe that closing a stream aborted the handler.
 *
 * Every MRTR handler is written once in the `inputRequired(...)` style. On a 2026-07-28 request the client
 * answers in-band and retries; on a 2025-era session the SDK's legacy shim turns each embedded request into
 * a real server→client request on the session (which Switchboard routes across nodes). A handler keeps
 * nothing between rounds: what a later round must know travels in the sealed `requestState`.
 *
 * Schemas, metadata and handlers are built once per (codec, event bus) — once per tenant — and shared by
 * every instance; only the two list-change triggers (which notify their own session) are per instance.
 */
import {
  acceptedContent,
  CLIENT_CAPABILITIES_META_KEY,
  fromJsonSchema,
  inputRequired,
  inputResponse,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequests,
  type InputRequiredResult,
  type McpServer,
  type RequestStateCodec,
  type ServerContext,
  type ServerEvent,
  type ToolCallback,
} from '@modelcontextprotocol/server';
import * as z from 'zod';

export interface FixtureDeps2026 {
  /** Seals and opens `requestState` (the server's `requestState.verify` hook uses the same codec). */
  requestState: RequestStateCodec<unknown>;
  /** The tenant's change-event bus (listen streams on every node), when there is one. */
  events?: { publish(event: ServerEvent): void };
}

export const FIXTURE_TOOL_NAMES_2026 = [
  'test_input_required_result_elicitation',
  'test_input_required_result_sampling',
  'test_input_required_result_list_roots',
  'test_input_required_result_request_state',
  'test_input_required_result_multiple_inputs',
  'test_input_required_result_multi_round',
  'test_input_required_result_tampered_state',
  'test_input_required_result_capabilities',
  'test_missing_capability',
  'test_streaming_elicitation',
  'test_logging_tool',
  'test_trigger_tool_change',
  'test_trigger_prompt_change',
  'route_by_region',
] as const;

/** URI a cancelled `cancellation_probe` publishes a `resources/updated` for. */
export const cancellationProbeUri = (token: string): string => `switchboard://cancelled/${encodeURIComponent(token)}`;

/** Cast once: `x-mcp-header` is an MCP extension keyword the JSON Schema type does not know. */
const ROUTE_BY_REGION_INPUT = {
  type: 'object',
  properties: {
    region: { type: 'string', description: 'Routing region, mirrored into Mcp-Param-Region', 'x-mcp-header': 'Region' },
    note: { type: 'string', description: 'Free text (not mirrored)' },
  },
  required: ['region'],
} as Parameters<typeof fromJsonSchema>[0];

type ToolResult = CallToolResult | InputRequiredResult;
const say = (text: string): CallToolResult => ({ content: [{ type: 'text', text }] });
const noArgs = z.object({});

/** A one-field form elicitation (the restricted elicitation schema: a flat object of primitives). */
function askFor(message: string, field: string, type: 'string' | 'boolean') {
  const property = type === 'string' ? ({ type: 'string' } as const) : ({ type: 'boolean' } as const);
  return inputRequired.elicit({ message, requestedSchema: { type: 'object', properties: { [field]: property }, required: [field] } });
}

/** The accepted string answer of a one-field form, validated (inputResponses are client input). */
function answer(ctx: ServerContext, key: string, field: string): string | undefined {
  return acceptedContent(ctx.mcpReq.inputResponses, key, z.object({ [field]: z.string() }))?.[field] as string | undefined;
}

function samplingText(ctx: ServerContext, key: string): string | undefined {
  const view = inputResponse(ctx.mcpReq.inputResponses, key);
  if (view.kind !== 'sampling') return undefined;
  const blocks = Array.isArray(view.result.content) ? view.result.content : [view.result.content];
  return blocks.map((b) => (b.type === 'text' ? b.text : `[${b.type}]`)).join(' ');
}

function rootUris(ctx: ServerContext, key: string): string[] | undefined {
  const view = inputResponse(ctx.mcpReq.inputResponses, key);
  return view.kind === 'roots' ? view.roots.map((r) => r.uri) : undefined;
}

/** A 2025-era request carries no per-request envelope; a 2026-07-28 one always does. */
const isRequest2025 = (ctx: ServerContext): boolean => ctx.mcpReq.envelope === undefined;

const stateOf = (ctx: ServerContext) => ctx.mcpReq.requestState<Record<string, unknown>>();

interface NoArgsTool {
  name: string;
  config: { description: string; inputSchema: typeof noArgs };
  handler: ToolCallback<typeof noArgs>;
}
const CANCELLATION_PROBE = {
  description: `Waits up to timeoutMs; if the request is cancelled first, publishes resources/updated for ${cancellationProbeUri('<token>')}`,
  inputSchema: z.object({ token: z.string().min(1).max(128), timeoutMs: z.number().int().min(0).max(600_000) }),
};
/** What one tenant's instances share: every fixture whose handler needs only the tenant's codec and bus. */
interface SharedFixtures {
  tools: NoArgsTool[];
  cancellationProbe: ToolCallback<typeof CANCELLATION_PROBE.inputSchema>;
}

/** Weak both ways: a caller that makes a codec or bus per server does not pile up fixture sets. */
const sharedByCodec = new WeakMap<RequestStateCodec<unknown>, { noBus?: SharedFixtures; byBus: WeakMap<object, SharedFixtures> }>();

function sharedFixtures(deps: FixtureDeps2026): SharedFixtures {
  let slot = sharedByCodec.get(deps.requestState);
  if (!slot) sharedByCodec.set(deps.requestState, (slot = { byBus: new WeakMap() }));
  if (!deps.events) return (slot.noBus ??= buildSharedFixtures(deps));
  let shared = slot.byBus.get(deps.events);
  if (!shared) slot.byBus.set(deps.events, (shared = buildSharedFixtures(deps)));
  return shared;
}

function buildSharedFixtures(deps: FixtureDeps2026): SharedFixtures {
  const seal = (payload: Record<string, unknown>, ctx: ServerContext) => deps.requestState.mint(payload, ctx);
  const tools: NoArgsTool[] = [];
  const tool = (name: string, description: string, run: (ctx: ServerContext) => Promise<ToolResult> | ToolResult) =>
    tools.push({ name, config: { description, inputSchema: noArgs }, handler: (_args, ctx) => run(ctx) });

  tool('test_input_required_result_elicitation', 'MRTR fixture: asks for a name in-band, then greets', (ctx) => {
    const name = answer(ctx, 'user_name', 'name');
    // Missing, wrong-keyed or malformed answers all lead to the same re-request (never an error).
    if (name === undefined) return inputRequired({ inputRequests: { user_name: askFor('What is your name?', 'name', 'string') } });
    return say(`Hello, ${name}!`);
  });

  tool('test_input_required_result_sampling', 'MRTR fixture: asks the client model a question in-band', (ctx) => {
    const reply = samplingText(ctx, 'capital_question');
    if (reply !== undefined) return say(`Sampling response: ${reply}`);
    return inputRequired({
      inputRequests: {
        capital_question: inputRequired.createMessage({
          messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
          maxTokens: 100,
        }),
      },
    });
  });

  tool('test_input_required_result_list_roots', "MRTR fixture: asks for the client's roots in-band", (ctx) => {
    const uris = rootUris(ctx, 'client_roots');
    if (uris !== undefined) return say(`Client roots (${uris.length}): ${uris.join(', ')}`);
    return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
  });

  tool('test_input_required_result_request_state', 'MRTR fixture: a confirmation whose round is carried in sealed requestState', async (ctx) => {
    const confirmed = acceptedContent(ctx.mcpReq.inputResponses, 'confirm', z.object({ ok: z.boolean() }));
    // The verify hook already opened the state; reaching here with it means it was ours and fresh.
    if (confirmed !== undefined && stateOf(ctx)?.awaiting === 'confirm') return say(`state-ok: confirmed=${confirmed.ok}`);
    return inputRequired({
      inputRequests: { confirm: askFor('Please confirm', 'ok', 'boolean') },
      requestState: await seal({ awaiting: 'confirm' }, ctx),
    });
  });

  tool('test_input_required_result_multiple_inputs', 'MRTR fixture: elicitation, sampling and roots in one round', async (ctx) => {
    const name = answer(ctx, 'user_name', 'name');
    const greeting = samplingText(ctx, 'greeting');
    const uris = rootUris(ctx, 'client_roots');
    if (name !== undefined && greeting !== undefined && uris !== undefined && stateOf(ctx)?.awaiting === 'all') {
      return say(`${greeting} (${name}; ${uris.length} root(s))`);
    }
    return inputRequired({
      inputRequests: {
        user_name: askFor('What is your name?', 'name', 'string'),
        greeting: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }], maxTokens: 50 }),
        client_roots: inputRequired.listRoots(),
      },
      requestState: await seal({ awaiting: 'all' }, ctx),
    });
  });

  tool('test_input_required_result_multi_round', 'MRTR fixture: two rounds, the first answer carried in requestState', async (ctx) => {
    const state = stateOf(ctx);
    const askColor = async (name: string) =>
      inputRequired({
        inputRequests: { step2: askFor('Step 2: What is your favorite color?', 'color', 'string') },
        requestState: await seal({ step: 2, name }, ctx),
      });
    if (state?.step === 2 && typeof state.name === 'string') {
      const color = answer(ctx, 'step2', 'color');
      return color !== undefined ? say(`Multi-round complete: ${state.name} likes ${color}`) : askColor(state.name);
    }
    const name = state?.step === 1 ? answer(ctx, 'step1', 'name') : undefined;
    if (name !== undefined) return askColor(name);
    return inputRequired({
      inputRequests: { step1: askFor('Step 1: What is your name?', 'name', 'string') },
      requestState: await seal({ step: 1 }, ctx),
    });
  });

  tool('test_input_required_result_tampered_state', 'MRTR fixture: completes only with untampered requestState', async (ctx) => {
    // Tampered, expired or foreign state never gets here: the verify hook rejects it with -32602.
    if (stateOf(ctx)?.awaiting === 'confirm' && acceptedContent(ctx.mcpReq.inputResponses, 'confirm') !== undefined) {
      return say('integrity-ok: requestState verified');
    }
    return inputRequired({
      inputRequests: { confirm: askFor('Please confirm', 'ok', 'boolean') },
      requestState: await seal({ awaiting: 'confirm' }, ctx),
    });
  });

  tool('test_input_required_result_capabilities', 'MRTR fixture: requests only input kinds the client declared', (ctx) => {
    if (ctx.mcpReq.inputResponses !== undefined) return say('input received for the declared capabilities');
    // The SDK types the envelope opaquely; the capabilities key holds the request's ClientCapabilities.
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    const declared = (envelope?.[CLIENT_CAPABILITIES_META_KEY] ?? {}) as ClientCapabilities;
    const asks: InputRequests = {};
    if (declared.elicitation) asks.user_name = askFor('What is your name?', 'name', 'string');
    if (declared.sampling) asks.greeting = inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'Say hello' } }], maxTokens: 20 });
    if (declared.roots) asks.client_roots = inputRequired.listRoots();
    if (Object.keys(asks).length === 0) return say('the client declared no capability to ask through');
    return inputRequired({ inputRequests: asks });
  });

  tool('test_missing_capability', 'Diagnostic: needs the sampling capability (undeclared → -32021, HTTP 400)', (ctx) => {
    const reply = samplingText(ctx, 'probe');
    if (reply !== undefined) return say(`sampled: ${reply}`);
    return inputRequired({
      inputRequests: { probe: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'ping' } }], maxTokens: 8 }) },
    });
  });

  tool('test_streaming_elicitation', 'Diagnostic: asks for input in-band (input_required), never as a request on the stream', (ctx) => {
    const name = answer(ctx, 'user_name', 'name');
    if (name !== undefined) return say(`thanks, ${name}`);
    return inputRequired({ inputRequests: { user_name: askFor('Who is asking?', 'name', 'string') } });
  });

  tool('test_logging_tool', 'Diagnostic: logs at info; delivered only when the request set _meta logLevel', async (ctx) => {
    await ctx.mcpReq.log('info', 'test_logging_tool ran');
    return say('logged (if the request asked for logs)');
  });

  const cancellationProbe: SharedFixtures['cancellationProbe'] = async ({ token, timeoutMs }, ctx) => {
    const signal = ctx.mcpReq.signal;
    const cancelled = await new Promise<boolean>((resolve) => {
      if (signal.aborted) return resolve(true);
      const timer = setTimeout(() => resolve(false), timeoutMs);
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve(true)), { once: true });
    });
    // The side effect proves the handler itself saw the abort, on whichever node it ran.
    if (cancelled) deps.events?.publish({ kind: 'resource_updated', uri: cancellationProbeUri(token) });
    return say(cancelled ? 'cancelled' : 'timeout');
  };
  return { tools, cancellationProbe };
}

// SEP-2243: `region` is mirrored into the `Mcp-Param-Region` header so a load balancer can route on it;
// the SDK rejects a request whose header is missing, malformed or disagrees with the body (-32020).
// The schema is raw JSON so the `x-mcp-header` annotation reaches tools/list unchanged.
const ROUTE_BY_REGION = {
  description: 'Echoes the region it was routed by (region is mirrored into the Mcp-Param-Region header)',
  inputSchema: fromJsonSchema<{ region: string; note?: string }>(ROUTE_BY_REGION_INPUT),
};
const routeByRegion: ToolCallback<typeof ROUTE_BY_REGION.inputSchema> = ({ region, note }) => say(`routed by region ${region}${note ? ` (${note})` : ''}`);

const CONTEXT_PROMPT = { description: 'MRTR fixture: a prompt that first asks the user for context' };
const contextPrompt = async (ctx: ServerContext): Promise<InputRequiredResult | { messages: { role: 'user'; content: { type: 'text'; text: string } }[] }> => {
  const context = answer(ctx, 'user_context', 'context');
  if (context === undefined) {
    return inputRequired({ inputRequests: { user_context: askFor('What context should the prompt use?', 'context', 'string') } });
  }
  return { messages: [{ role: 'user', content: { type: 'text', text: `Using the context: ${context}` } }] };
};

type ListKind = 'tools_list_changed' | 'prompts_list_changed';
const TRIGGER_TOOL = { description: 'Diagnostic: publishes tools_list_changed to every listen stream of the tenant', inputSchema: noArgs };
const TRIGGER_PROMPT = { description: 'Diagnostic: publishes prompts_list_changed to every listen stream of the tenant', inputSchema: noArgs };

export function registerFixtures2026(server: McpServer, deps: FixtureDeps2026): void {
  const shared = sharedFixtures(deps);
  for (const t of shared.tools) server.registerTool(t.name, t.config, t.handler);
  const trigger = (kind: ListKind, ctx: ServerContext, notify2025: () => void) => {
    deps.events?.publish({ kind });
    // A 2025-era session has no listen stream: it learns of the change the 2025 way, on its own session.
    if (isRequest2025(ctx)) notify2025();
    return say(`${kind} published`);
  };
  server.registerTool('test_trigger_tool_change', TRIGGER_TOOL, (_args, ctx) => trigger('tools_list_changed', ctx, () => server.sendToolListChanged()));
  server.registerTool('test_trigger_prompt_change', TRIGGER_PROMPT, (_args, ctx) => trigger('prompts_list_changed', ctx, () => server.sendPromptListChanged()));
  server.registerTool('cancellation_probe', CANCELLATION_PROBE, shared.cancellationProbe);
  server.registerTool('route_by_region', ROUTE_BY_REGION, routeByRegion);
  server.registerPrompt('test_input_required_result_prompt', CONTEXT_PROMPT, contextPrompt);
}
