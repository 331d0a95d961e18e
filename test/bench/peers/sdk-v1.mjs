/**
 * Peer: the official TypeScript SDK v1 (@modelcontextprotocol/sdk@1.32.2) Streamable HTTP transport,
 * wired as its docs and examples do (createMcpExpressApp + one StreamableHTTPServerTransport and one
 * McpServer per session, kept in a Map; see shared/reference/conformance.md §7).
 *
 * Env: PORT (required), PEER_MODE:
 *   stateful-sse    sessions, default response mode (every POST answered as an SSE stream)
 *   stateful-json   sessions, enableJsonResponse: true
 *   stateless-json  sessionIdGenerator: undefined + enableJsonResponse: true, a fresh server and
 *                   transport per request (the SDK's documented stateless pattern)
 * PEER_EVENT_STORE=1 adds the SDK's example InMemoryEventStore (resumability; stateful modes only).
 */
import { randomUUID } from 'node:crypto';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createV1Server } from './tools-v1.mjs';

const PORT = Number(process.env.PORT);
const MODE = process.env.PEER_MODE ?? 'stateful-sse';
const EVENT_STORE = process.env.PEER_EVENT_STORE === '1';
if (!PORT) throw new Error('PORT is required');
if (!['stateful-sse', 'stateful-json', 'stateless-json'].includes(MODE)) throw new Error(`unknown PEER_MODE ${MODE}`);

const app = createMcpExpressApp(); // binds 127.0.0.1 defaults: Host-header check + express.json()
const jsonError = (res, status, code, message) => res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });

if (MODE === 'stateless-json') {
  app.post('/mcp', async (req, res) => {
    const server = createV1Server();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      if (!res.headersSent) jsonError(res, 500, -32603, 'Internal server error');
    }
  });
  app.get('/mcp', (_req, res) => jsonError(res, 405, -32000, 'Method not allowed.'));
  app.delete('/mcp', (_req, res) => jsonError(res, 405, -32000, 'Method not allowed.'));
} else {
  const transports = new Map();
  const sessionFor = (req, res) => {
    const sid = req.headers['mcp-session-id'];
    if (!sid) return void jsonError(res, 400, -32000, 'Mcp-Session-Id header required');
    const t = transports.get(sid);
    if (!t) return void jsonError(res, 404, -32001, 'Session not found');
    return t;
  };
  app.post('/mcp', async (req, res) => {
    try {
      if (!req.headers['mcp-session-id'] && isInitializeRequest(req.body)) {
        const transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          enableJsonResponse: MODE === 'stateful-json',
          ...(EVENT_STORE && { eventStore: new InMemoryEventStore(), retryInterval: 1000 }),
          onsessioninitialized: (sid) => transports.set(sid, transport),
          onsessionclosed: (sid) => transports.delete(sid),
        });
        transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
        await createV1Server().connect(transport); // one McpServer per session
        return await transport.handleRequest(req, res, req.body);
      }
      const t = sessionFor(req, res);
      if (t) await t.handleRequest(req, res, req.body);
    } catch (err) {
      if (!res.headersSent) jsonError(res, 500, -32603, 'Internal server error');
    }
  });
  const other = async (req, res) => {
    const t = sessionFor(req, res);
    if (t) await t.handleRequest(req, res);
  };
  app.get('/mcp', other);
  app.delete('/mcp', other);
}

app.listen(PORT, '127.0.0.1', (err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
});
