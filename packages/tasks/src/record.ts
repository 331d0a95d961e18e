/**
 * The stored shape of a task, shared by both stores: a small `state` (the only part scripts rewrite) and
 * an opaque `spec` (tool, args, origin: written once, never re-encoded, so arguments keep their exact JSON).
 */
import type { InputRequest, TaskRecord } from './model';

/** The record's lifecycle fields, as scripts rewrite them. */
export interface TaskState extends Pick<TaskRecord, 'id' | 'status' | 'statusMessage' | 'createdAt' | 'lastUpdatedAt' | 'ttlMs' | 'pollIntervalMs' | 'rerunSafe' | 'runs'> {
  outcome?: 'result' | 'error';
  /** Outstanding input keys, in request order. */
  pending: string[];
  /** Answered keys the handler has not consumed yet. */
  answered: string[];
}

/** What the task runs and for whom: written once. */
export type TaskSpec = Pick<TaskRecord, 'tool' | 'args' | 'era' | 'sessionId' | 'progressToken' | 'priorInput'>;

/** The spec to store for a new task (only the fields it has). */
export const specOf = (t: TaskSpec): TaskSpec => ({ tool: t.tool, args: t.args, era: t.era, sessionId: t.sessionId, progressToken: t.progressToken, ...(t.priorInput !== undefined && { priorInput: t.priorInput }) });

/** Lua's cjson writes an empty list as `{}`. */
const asList = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);

export function parseState(json: string): TaskState {
  const s = JSON.parse(json) as TaskState;
  return { ...s, pending: asList(s.pending), answered: asList(s.answered) };
}

export function toRecord(state: TaskState, spec: TaskSpec, inputs?: Map<string, unknown>, answers?: Map<string, unknown>): TaskRecord {
  const r: TaskRecord = {
    id: state.id,
    status: state.status,
    createdAt: state.createdAt,
    lastUpdatedAt: state.lastUpdatedAt,
    ttlMs: state.ttlMs,
    pollIntervalMs: state.pollIntervalMs,
    tool: spec.tool,
    args: spec.args,
    rerunSafe: state.rerunSafe,
    runs: state.runs,
    era: spec.era,
  };
  if (state.statusMessage !== undefined) r.statusMessage = state.statusMessage;
  if (spec.sessionId !== undefined) r.sessionId = spec.sessionId;
  if (spec.progressToken !== undefined) r.progressToken = spec.progressToken;
  if (spec.priorInput !== undefined) r.priorInput = spec.priorInput;
  if (state.outcome !== undefined) r.outcome = state.outcome;
  if (inputs && inputs.size > 0) r.inputRequests = Object.fromEntries(inputs) as Record<string, InputRequest>;
  if (answers && answers.size > 0) r.inputResponses = Object.fromEntries(answers);
  return r;
}
