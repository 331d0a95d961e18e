/**
 * Bookkeeping for the task chaos suite: every task created (through an edge or straight onto the queue),
 * how it ended, and a load generator creating `long_job` tasks through the balancer. "Lost" = the record
 * is gone (tasks/get answers not found) before its TTL; "stuck" = not terminal when the deadline passed.
 */
import { sleep } from '@switchboard/test-helpers';
import type { Session } from './mcp-http';
import { openTaskSession, rpc } from './tasks-http';

export interface TaskView {
  status: string;
  /** Starts so far (only known when read from the store). */
  runs?: number;
}

type Read = () => Promise<TaskView | null>;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export interface Tally {
  created: number;
  completed: number;
  failed: number;
  cancelled: number;
  lost: number;
  stuck: number;
  /** Creations refused or failed on the client side (no task id came back). */
  createErrors: number;
}

export class TaskLedger {
  private readonly reads = new Map<string, Read>();
  readonly final = new Map<string, TaskView | null>();
  readonly createErrors: string[] = [];

  add(id: string, read: Read): void {
    this.reads.set(id, read);
  }

  /** A task created through an edge, read back with tasks/get at `url`. */
  addHttp(id: string, url: string, s: Session): void {
    this.add(id, async () => {
      const m = await rpc(url, s, 'tasks/get', { taskId: id });
      if (m.error) {
        if (/not found/.test(String(m.error.message))) return null;
        throw new Error(`tasks/get ${id}: ${JSON.stringify(m.error)}`);
      }
      return { status: m.result.status as string };
    });
  }

  get size(): number {
    return this.reads.size;
  }

  /** Polls every task until all are terminal (or gone) or `timeoutMs` passed; then counts. */
  async settle(timeoutMs: number, label: string): Promise<Tally> {
    const deadline = Date.now() + timeoutMs;
    let open = [...this.reads.keys()].filter((id) => !this.final.has(id) || isOpen(this.final.get(id)!));
    for (;;) {
      const next: string[] = [];
      for (const id of open) {
        const v = await this.reads.get(id)!().catch(() => undefined); // a read failing during chaos is retried
        if (v !== undefined) this.final.set(id, v);
        if (v === undefined || isOpen(v)) next.push(id);
      }
      open = next;
      if (open.length === 0 || Date.now() > deadline) break;
      await sleep(200);
    }
    const views = [...this.reads.keys()].map((id) => this.final.get(id));
    const tally: Tally = {
      created: views.length,
      completed: views.filter((v) => v?.status === 'completed').length,
      failed: views.filter((v) => v?.status === 'failed').length,
      cancelled: views.filter((v) => v?.status === 'cancelled').length,
      lost: views.filter((v) => v === null).length,
      stuck: views.filter((v) => v === undefined || (v !== null && isOpen(v))).length,
      createErrors: this.createErrors.length,
    };
    console.log(`[tasks chaos] ${label}: ${JSON.stringify(tally)}${this.createErrors.length ? ` first create error: ${this.createErrors[0]}` : ''}`);
    return tally;
  }
}

const isOpen = (v: TaskView | null) => v !== null && !TERMINAL.has(v.status);

export interface Load {
  stop(): Promise<void>;
}

/**
 * `loops` clients, each with its own 2025-11-25 session through `url`, creating a `long_job` task then
 * pausing `pauseMs`, until stopped. Every created task goes into the ledger (read back through `url`).
 */
export function startTaskLoad(ledger: TaskLedger, url: string, o: { loops: number; steps: number; delayMs: number; pauseMs: number }): Load {
  let running = true;
  const loop = async () => {
    let s: Session | undefined;
    while (running) {
      try {
        s ??= (await openTaskSession(url)).s;
        const m = await rpc(url, s, 'tools/call', { name: 'long_job', arguments: { steps: o.steps, delayMs: o.delayMs }, task: { ttl: 600_000 } });
        if (m.result?.task?.taskId) ledger.addHttp(m.result.task.taskId as string, url, s);
        else ledger.createErrors.push(JSON.stringify(m.error ?? m));
      } catch (err) {
        ledger.createErrors.push((err as Error).message);
      }
      await sleep(o.pauseMs);
    }
  };
  const loops = Array.from({ length: o.loops }, loop);
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
