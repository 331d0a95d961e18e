/**
 * `ServerEventBus` over the store's pub/sub: the SDK's `subscriptions/listen` router subscribes to it on
 * every node, so a change published on node A reaches listen streams held by nodes B and C.
 *
 * Channel `sb:<tenant>:events` (keys.ts), one per tenant. Each node subscribes once at start-up and keeps the
 * subscription for its lifetime, so a listen stream is live the moment its acknowledgement is written (a
 * per-stream SUBSCRIBE would race the first event). `publish` goes only through the store: the publishing
 * node receives its own event back like every other node, so local listeners never see it twice.
 *
 * Wire format, versioned: `{"v":1,"kind":…,"uri"?:…,"params"?:{…}}`. Undecodable messages are dropped and
 * counted. Delivery is best effort, like the spec's listen streams (no resumability in 2026-07-28): a
 * change event is a hint to re-list, and a client that lost its stream re-listens and re-lists.
 */
import type { ServerEvent, ServerEventBus } from '@modelcontextprotocol/server';
import { channels, type MessageHandler, type Store } from '@switchboard/store';

const KINDS = new Set<ServerEvent['kind']>(['tools_list_changed', 'prompts_list_changed', 'resources_list_changed', 'resource_updated']);
const MAX_URI_LENGTH = 2048;

interface EnvelopeV1 {
  v: 1;
  kind: ServerEvent['kind'];
  uri?: string;
  params?: Record<string, unknown>;
}

export interface StoreEventBusHooks {
  onPublished?: (kind: string) => void;
  onDecodeFailure?: () => void;
  log?: (msg: string, err?: unknown) => void;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function encode(event: ServerEvent): string {
  const env: EnvelopeV1 = { v: 1, kind: event.kind };
  if (event.kind === 'resource_updated') env.uri = event.uri;
  if (event.params !== undefined) env.params = event.params as Record<string, unknown>;
  return JSON.stringify(env);
}

function decode(message: string): ServerEvent | undefined {
  let env: unknown;
  try {
    env = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (!isObject(env) || env.v !== 1 || !KINDS.has(env.kind as ServerEvent['kind'])) return undefined;
  if (env.params !== undefined && !isObject(env.params)) return undefined;
  const params = env.params as ServerEvent['params'];
  if (env.kind === 'resource_updated') {
    if (typeof env.uri !== 'string' || env.uri === '' || env.uri.length > MAX_URI_LENGTH) return undefined;
    return { kind: 'resource_updated', uri: env.uri, ...(params && { params }) };
  }
  return { kind: env.kind as Exclude<ServerEvent['kind'], 'resource_updated'>, ...(params && { params }) };
}

export class StoreEventBus implements ServerEventBus {
  private readonly listeners = new Set<(event: ServerEvent) => void>();
  private readonly channel: string;
  private readonly onMessage: MessageHandler = (_channel, message) => this.deliver(message);
  private started = false;

  constructor(
    private readonly store: Store,
    tenant: string,
    private readonly hooks: StoreEventBusHooks = {},
  ) {
    this.channel = channels.events(tenant);
  }

  /** Subscribes the tenant channel; call once before serving. */
  async start(): Promise<void> {
    if (this.started) return;
    await this.store.subscribe(this.channel, this.onMessage);
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.store.unsubscribe(this.channel, this.onMessage).catch(() => undefined);
  }

  /** The SDK's contract is synchronous: the publish runs in the background and failures are logged. */
  publish(event: ServerEvent): void {
    this.store.publish(this.channel, encode(event)).then(
      () => this.hooks.onPublished?.(event.kind),
      (err) => this.hooks.log?.('publishing a change event failed', err),
    );
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  private deliver(message: string): void {
    const event = decode(message);
    if (!event) {
      this.hooks.onDecodeFailure?.();
      this.hooks.log?.('undecodable change event dropped');
      return;
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.hooks.log?.('a change event listener threw', err);
      }
    }
  }
}
