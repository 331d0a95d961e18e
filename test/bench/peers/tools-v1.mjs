/**
 * The demo tools the benchmark calls, re-implemented minimally on the official SDK v1 `McpServer`
 * (@modelcontextprotocol/sdk@1.32.2), behaving like packages/demo-server:
 *   echo {text}                    → text
 *   slow_counter {count, delayMs}  → per step: wait delayMs (setTimeout, as the demo does, even for 0),
 *                                    a progress notification (when the request has a progressToken) and an
 *                                    info log, both tied to the request; then "counted to N"
 *   trigger_list_changed           → an unrelated notifications/tools/list_changed (standalone GET stream)
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';

const text = (value) => ({ content: [{ type: 'text', text: value }] });
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export function createV1Server() {
  const server = new McpServer({ name: 'bench-peer-sdk-v1', version: '1.0.0' }, { capabilities: { logging: {} } });

  server.registerTool(
    'echo',
    { description: 'Returns the given text unchanged', inputSchema: { text: z.string() } },
    async ({ text: value }) => text(value),
  );

  server.registerTool(
    'slow_counter',
    {
      description: 'Counts from 1 to count with progress and an info log per step',
      inputSchema: { count: z.number().int().min(0), delayMs: z.number().int().min(0) },
    },
    async ({ count, delayMs }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let i = 1; i <= count; i++) {
        await pause(delayMs);
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress: i, total: count, message: `tick ${i}` },
          });
        }
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', logger: 'bench-peer-sdk-v1', data: `tick ${i}` },
        });
      }
      return text(`counted to ${count}`);
    },
  );

  server.registerTool('trigger_list_changed', { description: 'Sends an unrelated tools/list_changed' }, async () => {
    server.sendToolListChanged();
    return text('sent');
  });

  return server;
}
