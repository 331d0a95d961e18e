/**
 * Reference points, not MCP servers: a JSON-RPC "echo" that answers exactly what the benchmark sends
 * (initialize → a fixed result, notifications → 202, tools/call → the echo result) with no MCP logic,
 * no validation and no sessions. PEER_MODE=http: bare node:http (the machine's limit for one Node
 * process); PEER_MODE=express: the same behind Express 5 + express.json().
 *
 * Env: PORT (required), PEER_MODE.
 */
import { createServer } from 'node:http';
import express from 'express';

const PORT = Number(process.env.PORT);
const MODE = process.env.PEER_MODE ?? 'http';
if (!PORT) throw new Error('PORT is required');

const INIT_RESULT = { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: `bench-bare-${MODE}`, version: '1.0.0' } };

/** The reply to one JSON-RPC message: [status, body | undefined]. */
function answer(msg) {
  if (!msg || typeof msg !== 'object' || msg.id === undefined) return [202, undefined];
  if (msg.method === 'initialize') return [200, { jsonrpc: '2.0', id: msg.id, result: { ...INIT_RESULT, protocolVersion: msg.params?.protocolVersion ?? INIT_RESULT.protocolVersion } }];
  const value = String(msg.params?.arguments?.text ?? '');
  return [200, { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: value }] } }];
}

let server;
if (MODE === 'express') {
  const app = express();
  app.use(express.json());
  app.post('/mcp', (req, res) => {
    const [status, body] = answer(req.body);
    if (body === undefined) res.status(status).end();
    else res.status(status).json(body);
  });
  server = app.listen(PORT, '127.0.0.1');
} else {
  server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let msg;
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const [status, body] = answer(msg);
      if (body === undefined) {
        res.writeHead(status).end();
        return;
      }
      const json = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      res.end(json);
    });
  });
  server.listen(PORT, '127.0.0.1');
}
server.on('error', (err) => {
  console.error(err);
  process.exit(1);
});
