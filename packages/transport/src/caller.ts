/** Who is calling a sessionful engine (2025 Streamable HTTP, 2024 HTTP+SSE) and which MCP server serves them. */
import type { AuthInfo } from '@modelcontextprotocol/server';
import type { TaskHook2025 } from './gen-2025/task-hook';
import type { SessionBudgets } from './options';
import type { ServerFactory } from './server-instance';

/** Resolved by the edge before the transport. */
export interface CallerContext {
  tenant: string;
  principal: string;
  createServer: ServerFactory;
  /** Idle TTL for new sessions of this tenant (defaults to the engine's). */
  sessionTtlMs?: number;
  /** What the SDK hands handlers as `ctx.http.authInfo` (no raw token: see packages/auth). */
  authInfo?: AuthInfo;
  /** The tenant's MCP tasks support (gen-2025/task-hook.ts); absent: no tasks. */
  tasks?: TaskHook2025;
  /** The tenant's budgets where they differ from the engine's defaults. */
  budgets?: Partial<SessionBudgets>;
}
