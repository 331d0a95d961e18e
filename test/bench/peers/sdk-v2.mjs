/**
 * Peer: the official TypeScript SDK v2 handler, `createMcpHandler` from @modelcontextprotocol/server@2.4.0,
 * mounted on node:http exactly as docs/serving/http.md shows (toNodeHandler + the localhost Host/Origin
 * guards from @modelcontextprotocol/node). A fresh McpServer per request; 2025-era clients are served
 * statelessly (the default `legacy: 'stateless'`), `responseMode: 'auto'` (JSON unless the tool emits a
 * notification before its result, then SSE).
 *
 * Env: PORT (required).
 */
import { createServer } from 'node:http';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { localhostHostValidation, localhostOriginValidation, toNodeHandler } from '@modelcontextprotocol/node';
import * as z from 'zod';

const PORT = Number(process.env.PORT);
if (!PORT) throw new Error('PORT is required');

const text = (value) => ({ content: [{ type: 'text', text: value }] });
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function buildServer() {
  const server = new McpServer({ name: 'bench-peer-sdk-v2', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool(
    'echo',
    { description: 'Returns the given text unchanged', inputSchema: z.object({ text: z.string() }) },
    async ({ text: value }) => text(value),
  );
  server.registerTool(
    'slow_counter',
    {
      description: 'Counts from 1 to count with progress and an info log per step',
      inputSchema: z.object({ count: z.number().int().min(0), delayMs: z.number().int().min(0) }),
    },
    async ({ count, delayMs }, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (let i = 1; i <= count; i++) {
        await pause(delayMs);
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress: i, total: count, message: `tick ${i}` } });
        }
        await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', logger: 'bench-peer-sdk-v2', data: `tick ${i}` } });
      }
      return text(`counted to ${count}`);
    },
  );
  return server;
}

const handler = createMcpHandler(() => buildServer());
const nodeHandler = toNodeHandler(handler);
const validateHost = localhostHostValidation();
const validateOrigin = localhostOriginValidation();
const server = createServer((req, res) => {
  if (!validateHost(req, res) || !validateOrigin(req, res)) return;
  void nodeHandler(req, res);
});
server.on('error', (err) => {
  console.error(err);
  process.exit(1);
});
server.listen(PORT, '127.0.0.1');
process.on('SIGTERM', () => {
  void handler.close().finally(() => process.exit(0));
});
