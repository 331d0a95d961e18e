/**
 * TaskStore on Redis (single or Cluster). Keys, channels and TTLs: keys.ts. Every write is one Lua script
 * over one owner's key group (one slot), so state changes, bounds and the status event are atomic.
 */
import { createRedisClient, parseRedisUrl, RedisPubSub, type PubSubSetting, type RedisLike } from '@switchboard/store';
import { ownerHash, newTaskId, type NewTask, type TaskOwner, type TaskPayload, type TaskRecord, type TerminalStatus } from './model';
import { GROUP_TTL_MARGIN_MS, keyList, ownerKeys, taskChannels } from './keys';
import { defineTaskScripts, type TaskScriptCommands, type WriteReply } from './scripts';
import { parseState, specOf, toRecord, type TaskSpec, type TaskState } from './record';
import {
  DEFAULT_TASK_LIMITS,
  decodeCursor,
  effectiveTtlMs,
  encodeCursor,
  RERUN_REFUSED_MESSAGE,
  RUNS_EXHAUSTED_MESSAGE,
  RESULT_TOO_LARGE_CODE,
  type CreateOutcome,
  type StatusPatch,
  type TaskControl,
  type TaskEvent,
  type TaskLimits,
  type TaskPage,
  type TaskStore,
  type WriteOutcome,
} from './task-store';

type Scripted = RedisLike & TaskScriptCommands;

export interface RedisTaskStoreOptions {
  limits?: Partial<TaskLimits>;
  onError?: (err: Error) => void;
  /** Name shown in CLIENT LIST. */
  connectionName?: string;
  /** How long an idle owner's key group outlives its longest possible task (keys.ts). @default GROUP_TTL_MARGIN_MS */
  groupTtlMarginMs?: number;
  /**
   * A command client to share (an edge passes its session store's): no extra connection and no extra
   * liveness PINGs. Its owner closes it; `close()` leaves it open.
   */
  client?: RedisLike;
  /** Classic or sharded pub/sub (@switchboard/store pubsub.ts). @default PUBSUB_MODE from the environment, else auto */
  pubsubMode?: PubSubSetting;
}

export const tooLargePayload = (limit: number): string =>
  JSON.stringify({ error: { code: RESULT_TOO_LARGE_CODE, message: `The task's result exceeds the ${limit}-byte limit` } });
export const refusedPayload = (): string => JSON.stringify({ error: { code: -32603, message: RERUN_REFUSED_MESSAGE } });

/** Decodes a published status event (state and spec travel as stored). */
export function parseEventMessage(message: string): TaskEvent | null {
  try {
    const m = JSON.parse(message) as { kind: string; tenant: string; ownerHash: string; state?: TaskState; spec?: TaskSpec } & Record<string, unknown>;
    if (m.kind === 'status' && m.state && m.spec) {
      const state = parseState(JSON.stringify(m.state));
      return { kind: 'status', tenant: m.tenant, ownerHash: m.ownerHash, task: toRecord(state, m.spec) };
    }
    if (m.kind === 'progress') return m as unknown as TaskEvent;
  } catch {
    /* not ours */
  }
  return null;
}

export class RedisTaskStore implements TaskStore {
  readonly kind: 'redis' | 'redis-cluster';
  readonly limits: TaskLimits;
  readonly client: RedisLike;
  private readonly cmd: Scripted;
  private readonly pubsub: RedisPubSub;
  private readonly groupTtlMs: number;

  constructor(
    private readonly url: string,
    private readonly opts: RedisTaskStoreOptions = {},
  ) {
    this.kind = parseRedisUrl(url).kind;
    this.limits = { ...DEFAULT_TASK_LIMITS, ...opts.limits };
    this.groupTtlMs = this.limits.maxTtlMs + (opts.groupTtlMarginMs ?? GROUP_TTL_MARGIN_MS);
    this.client = opts.client ?? createRedisClient(url, { onError: opts.onError, connectionName: opts.connectionName ?? 'sb-tasks' });
    defineTaskScripts(this.client);
    this.cmd = this.client as Scripted;
    this.pubsub = new RedisPubSub(url, this.client, { setting: opts.pubsubMode, onError: opts.onError, connectionName: 'sb-tasks-sub', livenessTimeoutMs: 0 });
  }

  /**
   * Sharded pub/sub: a script runs in its owner's slot and may publish only there, but the events and control
   * channels serve a tenant and the fleet; so the scripts publish nothing (empty channel arguments) and the
   * write's status event and control poke are SPUBLISHed after it, in the writer's order.
   */
  private async sharded(): Promise<boolean> {
    return (this.pubsub.mode ?? (await this.pubsub.modeReady)) === 'sharded';
  }

  private eventPrefix(owner: TaskOwner, hash = ownerHash(owner)): string {
    return `{"kind":"status","tenant":${JSON.stringify(owner.tenant)},"ownerHash":"${hash}"`;
  }

  private control(owner: TaskOwner, id: string, kind: TaskControl['kind']): string {
    return JSON.stringify({ kind, tenant: owner.tenant, ownerHash: ownerHash(owner), taskId: id } satisfies TaskControl);
  }

  /** Active tasks expire only at the longest retention (a running task outlives a short ttl); see docs/tasks.md. */
  private get activeTtlMs(): number {
    return this.limits.maxTtlMs;
  }

  async create(owner: TaskOwner, spec: NewTask, nowMs = Date.now()): Promise<CreateOutcome> {
    const k = ownerKeys(owner);
    for (;;) {
      const id = newTaskId();
      const state: TaskState = {
        id,
        status: 'working',
        createdAt: nowMs,
        lastUpdatedAt: nowMs,
        ttlMs: effectiveTtlMs(this.limits, spec.ttlMs),
        pollIntervalMs: this.limits.pollIntervalMs,
        rerunSafe: spec.rerunSafe,
        runs: 0,
        pending: [],
        answered: [],
      };
      const stored: TaskSpec = specOf(spec);
      const r = await this.cmd.taskCreate(...keyList(k), nowMs, id, JSON.stringify(state), JSON.stringify(stored), this.activeTtlMs, this.limits.maxActivePerOwner, this.groupTtlMs);
      if (r === 0) return { ok: false, reason: 'active_limit', limit: this.limits.maxActivePerOwner };
      if (r === 1) return { ok: true, task: toRecord(state, stored) };
      // -1: a 128-bit collision; draw again.
    }
  }

  async get(owner: TaskOwner, id: string): Promise<TaskRecord | null> {
    const r = await this.cmd.taskGet(...keyList(ownerKeys(owner)), Date.now(), id);
    return r ? decodeRecord(r, 0) : null;
  }

  async getPayload(owner: TaskOwner, id: string): Promise<TaskPayload | null> {
    const k = ownerKeys(owner);
    const [exp, payload] = await Promise.all([this.client.zscore(k.exp, id), this.client.hget(k.res, id)]);
    if (exp === null || Number(exp) <= Date.now() || payload === null) return null;
    return JSON.parse(payload) as TaskPayload;
  }

  async list(owner: TaskOwner, cursor: string | undefined, limit: number): Promise<TaskPage> {
    const c = cursor === undefined ? undefined : decodeCursor(cursor);
    const r = await this.cmd.taskList(...keyList(ownerKeys(owner)), Date.now(), Math.max(1, Math.floor(limit)), c ? c.createdAt : '', c ? c.id : '');
    const tasks: TaskRecord[] = [];
    for (let i = 2; i + 1 < r.length; i += 2) tasks.push(toRecord(parseState(r[i]!), JSON.parse(r[i + 1]!) as TaskSpec));
    return r[0] ? { tasks, nextCursor: encodeCursor(Number(r[0]), r[1]!) } : { tasks };
  }

  private async finishWith(owner: TaskOwner, id: string, status: TerminalStatus, payload: string, outcome: string, message: string, control: string): Promise<WriteOutcome<'done' | 'terminal'>> {
    const sh = await this.sharded();
    const nowMs = Date.now();
    const r = await this.cmd.taskFinish(
      ...keyList(ownerKeys(owner)),
      nowMs,
      id,
      status,
      message,
      payload,
      outcome,
      this.limits.maxResultBytes,
      tooLargePayload(this.limits.maxResultBytes),
      this.limits.maxRetainedPerOwner,
      this.limits.maxRetainedBytesPerOwner,
      this.groupTtlMs,
      sh ? '' : taskChannels.events(owner.tenant),
      this.eventPrefix(owner),
      taskChannels.control,
      sh ? '' : control,
    );
    return (await this.outcome(owner, r, sh ? { nowMs, control } : undefined)) as WriteOutcome<'done' | 'terminal'>;
  }

  /**
   * `after` (sharded mode): the poke; the status event the script left to its caller is published when the
   * script says the write changed the task (its third reply element), exactly as it would have published it.
   */
  private async outcome(owner: TaskOwner, r: WriteReply, after?: { nowMs: number; control?: string }): Promise<WriteOutcome<string>> {
    if (r[0] === 'unknown') return { outcome: 'unknown' };
    // Every write returns the whole record after its three elements (lib.lua with_record): no second read.
    // A task its own write evicted (retention bounds) has only its state.
    const task = decodeRecord(r, 3) ?? toRecord(parseState(r[1]!), { tool: '', args: {}, era: '2025' });
    if (after && r[0] !== 'terminal' && r[2] === '1') {
      const spec: TaskSpec = { tool: task.tool, args: task.args, era: task.era, sessionId: task.sessionId, progressToken: task.progressToken };
      await this.pubsub.publish(taskChannels.events(owner.tenant), `${this.eventPrefix(owner)},"state":${r[1]},"spec":${JSON.stringify(spec)}}`);
      if (after.control) await this.pubsub.publish(taskChannels.control, after.control);
    }
    return { outcome: r[0]!, task };
  }

  async cancel(owner: TaskOwner, id: string): Promise<WriteOutcome<'cancelled' | 'terminal'>> {
    const r = await this.finishWith(owner, id, 'cancelled', '', '', 'cancelled', this.control(owner, id, 'cancel'));
    if (r.outcome === 'unknown') return r;
    return { outcome: r.outcome === 'done' ? 'cancelled' : 'terminal', task: r.task };
  }

  async finish(owner: TaskOwner, id: string, status: TerminalStatus, payload?: TaskPayload, statusMessage?: string): Promise<WriteOutcome<'done' | 'terminal'>> {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const outcome = payload === undefined ? '' : 'result' in payload ? 'result' : 'error';
    return this.finishWith(owner, id, status, body, outcome, statusMessage ?? '', '');
  }

  async submitInput(owner: TaskOwner, id: string, responses: Record<string, unknown>): Promise<WriteOutcome<'ok' | 'terminal'>> {
    const pairs = Object.entries(responses).flatMap(([k, v]) => [k, JSON.stringify(v ?? null)]);
    const sh = await this.sharded();
    const nowMs = Date.now();
    const r = await this.cmd.taskInput(
      ...keyList(ownerKeys(owner)),
      nowMs,
      id,
      this.groupTtlMs,
      sh ? '' : taskChannels.events(owner.tenant),
      this.eventPrefix(owner),
      taskChannels.control,
      sh ? '' : this.control(owner, id, 'input'),
      ...pairs,
    );
    return this.outcome(owner, r, sh ? { nowMs, control: this.control(owner, id, 'input') } : undefined) as Promise<WriteOutcome<'ok' | 'terminal'>>;
  }

  async startRun(owner: TaskOwner, id: string): Promise<WriteOutcome<'run' | 'refused' | 'terminal'>> {
    const sh = await this.sharded();
    const nowMs = Date.now();
    const r = await this.cmd.taskStart(
      ...keyList(ownerKeys(owner)),
      nowMs,
      id,
      this.activeTtlMs,
      this.groupTtlMs,
      sh ? '' : taskChannels.events(owner.tenant),
      this.eventPrefix(owner),
      refusedPayload(),
      this.limits.maxResultBytes,
      this.limits.maxRetainedPerOwner,
      this.limits.maxRetainedBytesPerOwner,
      'worker lost; not safe to rerun',
      this.limits.maxRuns,
      JSON.stringify({ error: { code: -32603, message: RUNS_EXHAUSTED_MESSAGE(this.limits.maxRuns) } }),
      'worker lost too many times',
    );
    return this.outcome(owner, r, sh ? { nowMs } : undefined) as Promise<WriteOutcome<'run' | 'refused' | 'terminal'>>;
  }

  async update(owner: TaskOwner, id: string, patch: StatusPatch): Promise<WriteOutcome<'ok' | 'terminal'>> {
    const adds = Object.entries(patch.addInputRequests ?? {});
    const sh = await this.sharded();
    const nowMs = Date.now();
    const r = await this.cmd.taskUpdate(
      ...keyList(ownerKeys(owner)),
      nowMs,
      id,
      patch.status ?? '',
      patch.statusMessage === undefined ? '0' : '1',
      patch.statusMessage ?? '',
      this.activeTtlMs,
      this.groupTtlMs,
      sh ? '' : taskChannels.events(owner.tenant),
      this.eventPrefix(owner),
      adds.length,
      ...adds.flatMap(([k, v]) => [k, JSON.stringify(v)]),
      ...(patch.consumeResponses ?? []),
    );
    return this.outcome(owner, r, sh ? { nowMs } : undefined) as Promise<WriteOutcome<'ok' | 'terminal'>>;
  }

  async publishProgress(event: Extract<TaskEvent, { kind: 'progress' }>): Promise<void> {
    await this.pubsub.publish(taskChannels.events(event.tenant), JSON.stringify(event));
  }

  private async listen(channel: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    const h = (_: string, message: string) => handler(message);
    await this.pubsub.subscribe(channel, h);
    return () => this.pubsub.unsubscribe(channel, h).catch(() => undefined);
  }

  onEvents(tenant: string, handler: (e: TaskEvent) => void): Promise<() => Promise<void>> {
    return this.listen(taskChannels.events(tenant), (m) => {
      const e = parseEventMessage(m);
      if (e) handler(e);
    });
  }

  onControl(handler: (c: TaskControl) => void): Promise<() => Promise<void>> {
    return this.listen(taskChannels.control, (m) => {
      try {
        handler(JSON.parse(m) as TaskControl);
      } catch {
        /* malformed poke: ignore */
      }
    });
  }

  async close(): Promise<void> {
    const own = this.opts.client === undefined;
    await Promise.all([own ? this.client.quit().catch(() => this.client.disconnect()) : undefined, this.pubsub.close()]);
  }
}

/** The record a script reply holds from `start` on (taskGet's reply shape), or null when it holds none. */
function decodeRecord(r: readonly (string | number | undefined)[], start: number): TaskRecord | null {
  if (r.length <= start) return null;
  const state = parseState(String(r[start]));
  const spec = JSON.parse(String(r[start + 1])) as TaskSpec;
  let i = start + 2;
  const readMap = () => {
    const n = Number(r[i++]);
    const m = new Map<string, unknown>();
    for (let j = 0; j < n; j++, i += 2) m.set(String(r[i]), JSON.parse(String(r[i + 1])));
    return m;
  };
  const inputs = readMap();
  const answers = readMap();
  return toRecord(state, spec, inputs, answers);
}
