/**
 * One endpoint, every generation, at the same time: a v2 SDK client on 2026-07-28, a v1 SDK client on
 * 2025 Streamable HTTP and a v1 SDK SSEClientTransport (2024-11-05) share one tenant on 3 nodes behind nginx.
 */
import { Client as Client2026, StreamableHTTPClientTransport as Transport2026 } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { CallToolResultSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startCluster, type EdgeCluster } from '@switchboard/test-helpers';

describe('all three protocol generations at once', () => {
  let c: EdgeCluster;
  beforeAll(async () => {
    c = await startCluster({ nodes: 3, redis: 'single', env: { LOG_LEVEL: 'warn' } });
  }, 60_000);
  afterAll(async () => c?.stop());

  test('2026-07-28, 2025 and 2024 clients call tools concurrently on the same tenant', async () => {
    const client2026 = new Client2026({ name: 'modern', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client2026.connect(new Transport2026(new URL(c.lbMcpUrl)));
    const streamable = new V1Client({ name: 'v1-streamable', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    streamable.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { username: 'u2025', email: 'a@b.c' } }));
    const streamableTransport = new StreamableHTTPClientTransport(new URL(c.lbMcpUrl));
    await streamable.connect(streamableTransport);
    const sse = new V1Client({ name: 'v1-sse', version: '1.0.0' });
    await sse.connect(new SSEClientTransport(new URL(`${c.lbUrl}/sse`)));
    try {
      const text = (r: object) => (r as { content: { text: string }[] }).content[0]!.text;
      const rounds = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const [a, b, d] = await Promise.all([
            client2026.callTool({ name: 'echo', arguments: { text: `modern-${i}` } }),
            streamable.callTool({ name: 'echo', arguments: { text: `2025-${i}` } }, CallToolResultSchema),
            sse.callTool({ name: 'echo', arguments: { text: `2024-${i}` } }, CallToolResultSchema),
          ]);
          return [text(a), text(b), text(d)];
        }),
      );
      rounds.forEach((r, i) => expect(r).toEqual([`modern-${i}`, `2025-${i}`, `2024-${i}`]));
      expect(client2026.getProtocolEra?.()).toBe('modern'); // the SDK's era name
      // Era-specific paths still work side by side: server→client requests for the 2025 session.
      const elicited = await streamable.callTool({ name: 'test_elicitation', arguments: { message: 'who' } }, CallToolResultSchema);
      expect(JSON.stringify(elicited.content)).toContain('u2025');
    } finally {
      await streamableTransport.terminateSession().catch(() => undefined);
      await Promise.allSettled([client2026.close(), streamable.close(), sse.close()]);
    }
  });
});
