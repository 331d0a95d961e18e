/**
 * Demo tools meant to run as tasks (issue 11). `long_job` reports progress every step and is declared,
 * through its tools/list `_meta`, as task-capable (optional) and safe to run again from the start after a
 * worker dies (it has no side effects). The `_meta` key is the one `@switchboard/tasks` reads
 * (TASK_POLICY_META_KEY); it is spelled out here so a tenant server needs no Switchboard dependency.
 */
import type { McpServer, ToolCallback } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { pause, progressToRequest, text } from './tool-helpers';

export const TASK_TOOL_NAMES = ['long_job'] as const;

/** `_meta` declaration read by Switchboard's task runner: run as a task when the caller supports tasks; rerun-safe. */
export const LONG_JOB_TASK_META = { 'switchboard.dev/task': { support: 'optional', rerunSafe: true } } as const;

const LONG_JOB = {
  description: 'Runs `steps` steps of `delayMs` each, reporting progress after every step; returns "done <steps>". Runs as a task when the client supports tasks; safe to rerun.',
  inputSchema: z.object({
    steps: z.number().int().min(0).max(100_000).describe('How many steps to run'),
    delayMs: z.number().int().min(0).max(3_600_000).describe('Duration of each step, in milliseconds'),
  }),
  annotations: { idempotentHint: true, readOnlyHint: true },
  _meta: LONG_JOB_TASK_META,
};

const longJob: ToolCallback<typeof LONG_JOB.inputSchema> = async ({ steps, delayMs }, ctx) => {
  const { signal } = ctx.mcpReq;
  for (let i = 1; i <= steps; i++) {
    await pause(delayMs, signal);
    if (signal.aborted) return text(`cancelled at ${i - 1}`);
    await progressToRequest(ctx, i, steps, `step ${i}/${steps}`);
  }
  return text(`done ${steps}`);
};

export function registerTaskTools(server: McpServer): void {
  server.registerTool('long_job', LONG_JOB, longJob);
}
