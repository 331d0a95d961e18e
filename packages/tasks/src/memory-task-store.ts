/**
 * TaskStore in process memory, for the embedded single-node default (no REDIS_URL). Same contract as the
 * Redis store (the contract suite runs against both): logical expiry, bounds, terminal states final,
 * events delivered synchronously-after-write to in-process subscribers.
 */
import { newTaskId, ownerHash, type InputRequest, type NewTask, type TaskOwner, type TaskPayload, type TaskRecord, type TerminalStatus } from './model';
import { specOf, toRecord, type TaskSpec, type TaskState } from './record';
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

interface Entry {
  state: TaskState;
  spec: TaskSpec;
  inputs: Map<string, unknown>;
  answers: Map<string, unknown>;
  payload?: string;
  expiresAt: number;
  finishedAt?: number;
}

interface Group {
  tasks: Map<string, Entry>;
  bytes: number;
}

const isTerminal = (s: string) => s === 'completed' || s === 'failed' || s === 'cancelled';
const clone = <T>(v: T): T => structuredClone(v);

export class MemoryTaskStore implements TaskStore {
  readonly kind = 'memory' as const;
  readonly limits: TaskLimits;
  private readonly groups = new Map<string, Group>();
  private readonly eventHandlers = new Map<string, Set<(e: TaskEvent) => void>>();
  private readonly controlHandlers = new Set<(c: TaskControl) => void>();

  constructor(limits: Partial<TaskLimits> = {}) {
    this.limits = { ...DEFAULT_TASK_LIMITS, ...limits };
  }

  private group(owner: TaskOwner, now: number): Group {
    const key = `${owner.tenant}\0${ownerHash(owner)}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { tasks: new Map(), bytes: 0 };
      this.groups.set(key, g);
    }
    for (const [id, e] of g.tasks) if (e.expiresAt <= now) this.drop(g, id);
    return g;
  }

  private drop(g: Group, id: string): void {
    const e = g.tasks.get(id);
    if (!e) return;
    if (e.payload !== undefined) g.bytes -= Buffer.byteLength(e.payload);
    g.tasks.delete(id);
  }

  private record(e: Entry): TaskRecord {
    return toRecord(clone(e.state), clone(e.spec), clone(e.inputs), clone(e.answers));
  }

  private emitStatus(owner: TaskOwner, e: Entry): void {
    const task = toRecord(clone(e.state), clone(e.spec));
    const event: TaskEvent = { kind: 'status', tenant: owner.tenant, ownerHash: ownerHash(owner), task };
    // After the write returns, like a pub/sub delivery.
    queueMicrotask(() => this.eventHandlers.get(owner.tenant)?.forEach((h) => h(event)));
  }

  private emitControl(owner: TaskOwner, id: string, kind: TaskControl['kind']): void {
    const c: TaskControl = { kind, tenant: owner.tenant, ownerHash: ownerHash(owner), taskId: id };
    queueMicrotask(() => this.controlHandlers.forEach((h) => h(c)));
  }

  async create(owner: TaskOwner, spec: NewTask, nowMs = Date.now()): Promise<CreateOutcome> {
    const g = this.group(owner, nowMs);
    let active = 0;
    for (const e of g.tasks.values()) if (!isTerminal(e.state.status)) active++;
    if (active >= this.limits.maxActivePerOwner) return { ok: false, reason: 'active_limit', limit: this.limits.maxActivePerOwner };
    let id = newTaskId();
    while (g.tasks.has(id)) id = newTaskId();
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
    // Arguments are kept as their JSON, exactly like the Redis store's opaque spec.
    const stored: TaskSpec = JSON.parse(JSON.stringify(specOf(spec))) as TaskSpec;
    const e: Entry = { state, spec: stored, inputs: new Map(), answers: new Map(), expiresAt: nowMs + this.limits.maxTtlMs };
    g.tasks.set(id, e);
    return { ok: true, task: this.record(e) };
  }

  async get(owner: TaskOwner, id: string): Promise<TaskRecord | null> {
    const e = this.group(owner, Date.now()).tasks.get(id);
    return e ? this.record(e) : null;
  }

  async getPayload(owner: TaskOwner, id: string): Promise<TaskPayload | null> {
    const e = this.group(owner, Date.now()).tasks.get(id);
    return e?.payload === undefined ? null : (JSON.parse(e.payload) as TaskPayload);
  }

  async list(owner: TaskOwner, cursor: string | undefined, limit: number): Promise<TaskPage> {
    const c = cursor === undefined ? undefined : decodeCursor(cursor);
    const n = Math.max(1, Math.floor(limit));
    const all = [...this.group(owner, Date.now()).tasks.values()]
      .sort((a, b) => b.state.createdAt - a.state.createdAt || (a.state.id < b.state.id ? 1 : -1))
      .filter((e) => !c || e.state.createdAt < c.createdAt || (e.state.createdAt === c.createdAt && e.state.id < c.id));
    const page = all.slice(0, n);
    const last = page[page.length - 1];
    return all.length > n && last ? { tasks: page.map((e) => this.record(e)), nextCursor: encodeCursor(last.state.createdAt, last.state.id) } : { tasks: page.map((e) => this.record(e)) };
  }

  private finishEntry(owner: TaskOwner, g: Group, e: Entry, now: number, status: TerminalStatus, message: string, payload: string, outcome: 'result' | 'error' | ''): void {
    if (payload !== '' && Buffer.byteLength(payload) > this.limits.maxResultBytes) {
      status = 'failed';
      payload = JSON.stringify({ error: { code: RESULT_TOO_LARGE_CODE, message: `The task's result exceeds the ${this.limits.maxResultBytes}-byte limit` } });
      outcome = 'error';
      message = 'result too large';
    }
    e.inputs.clear();
    e.answers.clear();
    e.state.pending = [];
    e.state.answered = [];
    e.state.status = status;
    e.state.lastUpdatedAt = now;
    if (message !== '') e.state.statusMessage = message;
    if (payload !== '') {
      e.state.outcome = outcome as 'result' | 'error';
      e.payload = payload;
      g.bytes += Buffer.byteLength(payload);
    }
    e.finishedAt = now;
    e.expiresAt = now + e.state.ttlMs;
    const finished = () => [...g.tasks.values()].filter((x) => x.finishedAt !== undefined).sort((a, b) => a.finishedAt! - b.finishedAt! || (a.state.id < b.state.id ? -1 : 1));
    let done = finished();
    while (done.length > this.limits.maxRetainedPerOwner || g.bytes > this.limits.maxRetainedBytesPerOwner) {
      const oldest = done[0];
      if (!oldest || oldest === e) break;
      this.drop(g, oldest.state.id);
      done = finished();
    }
    this.emitStatus(owner, e);
  }

  async finish(owner: TaskOwner, id: string, status: TerminalStatus, payload?: TaskPayload, statusMessage?: string): Promise<WriteOutcome<'done' | 'terminal'>> {
    const now = Date.now();
    const g = this.group(owner, now);
    const e = g.tasks.get(id);
    if (!e) return { outcome: 'unknown' };
    if (isTerminal(e.state.status)) return { outcome: 'terminal', task: this.record(e) };
    const body = payload === undefined ? '' : JSON.stringify(payload);
    this.finishEntry(owner, g, e, now, status, statusMessage ?? '', body, payload === undefined ? '' : 'result' in payload ? 'result' : 'error');
    return { outcome: 'done', task: this.record(e) };
  }

  async cancel(owner: TaskOwner, id: string): Promise<WriteOutcome<'cancelled' | 'terminal'>> {
    const now = Date.now();
    const g = this.group(owner, now);
    const e = g.tasks.get(id);
    if (!e) return { outcome: 'unknown' };
    if (isTerminal(e.state.status)) return { outcome: 'terminal', task: this.record(e) };
    this.finishEntry(owner, g, e, now, 'cancelled', 'cancelled', '', '');
    this.emitControl(owner, id, 'cancel');
    return { outcome: 'cancelled', task: this.record(e) };
  }

  async submitInput(owner: TaskOwner, id: string, responses: Record<string, unknown>): Promise<WriteOutcome<'ok' | 'terminal'>> {
    const now = Date.now();
    const e = this.group(owner, now).tasks.get(id);
    if (!e) return { outcome: 'unknown' };
    if (isTerminal(e.state.status)) return { outcome: 'terminal', task: this.record(e) };
    let took = false;
    for (const [k, v] of Object.entries(responses)) {
      const i = e.state.pending.indexOf(k);
      if (i < 0) continue;
      e.state.pending.splice(i, 1);
      e.inputs.delete(k);
      e.answers.set(k, JSON.parse(JSON.stringify(v ?? null)));
      e.state.answered.push(k);
      took = true;
    }
    if (took) {
      if (e.state.pending.length === 0 && e.state.status === 'input_required') e.state.status = 'working';
      e.state.lastUpdatedAt = now;
      this.emitStatus(owner, e);
      this.emitControl(owner, id, 'input');
    }
    return { outcome: 'ok', task: this.record(e) };
  }

  async startRun(owner: TaskOwner, id: string): Promise<WriteOutcome<'run' | 'refused' | 'terminal'>> {
    const now = Date.now();
    const g = this.group(owner, now);
    const e = g.tasks.get(id);
    if (!e) return { outcome: 'unknown' };
    if (isTerminal(e.state.status)) return { outcome: 'terminal', task: this.record(e) };
    e.state.runs += 1;
    if (e.state.runs > 1 && (!e.state.rerunSafe || e.state.runs > this.limits.maxRuns)) {
      const [message, text] = e.state.rerunSafe ? ['worker lost too many times', RUNS_EXHAUSTED_MESSAGE(this.limits.maxRuns)] : ['worker lost; not safe to rerun', RERUN_REFUSED_MESSAGE];
      this.finishEntry(owner, g, e, now, 'failed', message, JSON.stringify({ error: { code: -32603, message: text } }), 'error');
      return { outcome: 'refused', task: this.record(e) };
    }
    if (e.state.runs > 1) {
      e.inputs.clear();
      e.answers.clear();
      e.state.pending = [];
      e.state.answered = [];
      if (e.state.status !== 'working') {
        e.state.status = 'working';
        e.state.lastUpdatedAt = now;
        this.emitStatus(owner, e);
      }
    }
    e.expiresAt = now + this.limits.maxTtlMs;
    return { outcome: 'run', task: this.record(e) };
  }

  async update(owner: TaskOwner, id: string, patch: StatusPatch): Promise<WriteOutcome<'ok' | 'terminal'>> {
    const now = Date.now();
    const e = this.group(owner, now).tasks.get(id);
    if (!e) return { outcome: 'unknown' };
    if (isTerminal(e.state.status)) return { outcome: 'terminal', task: this.record(e) };
    let changed = false;
    for (const [k, v] of Object.entries(patch.addInputRequests ?? {})) {
      if (e.state.pending.includes(k) || e.state.answered.includes(k)) continue;
      e.state.pending.push(k);
      e.inputs.set(k, JSON.parse(JSON.stringify(v)) as InputRequest);
      changed = true;
    }
    for (const k of patch.consumeResponses ?? []) {
      const i = e.state.answered.indexOf(k);
      if (i >= 0) {
        e.state.answered.splice(i, 1);
        e.answers.delete(k);
      }
    }
    if (patch.status !== undefined && patch.status !== e.state.status) {
      e.state.status = patch.status;
      changed = true;
    }
    if (patch.statusMessage !== undefined && patch.statusMessage !== e.state.statusMessage) {
      e.state.statusMessage = patch.statusMessage;
      changed = true;
    }
    if (changed) e.state.lastUpdatedAt = now;
    e.expiresAt = now + this.limits.maxTtlMs;
    if (changed) this.emitStatus(owner, e);
    return { outcome: 'ok', task: this.record(e) };
  }

  async publishProgress(event: Extract<TaskEvent, { kind: 'progress' }>): Promise<void> {
    const e = clone(event);
    queueMicrotask(() => this.eventHandlers.get(event.tenant)?.forEach((h) => h(e)));
  }

  async onEvents(tenant: string, handler: (e: TaskEvent) => void): Promise<() => Promise<void>> {
    let set = this.eventHandlers.get(tenant);
    if (!set) this.eventHandlers.set(tenant, (set = new Set()));
    set.add(handler);
    return async () => void set.delete(handler);
  }

  async onControl(handler: (c: TaskControl) => void): Promise<() => Promise<void>> {
    this.controlHandlers.add(handler);
    return async () => void this.controlHandlers.delete(handler);
  }

  async close(): Promise<void> {
    this.eventHandlers.clear();
    this.controlHandlers.clear();
  }
}
