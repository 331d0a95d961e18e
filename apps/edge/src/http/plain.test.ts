import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpErrorResponse, McpHttpError } from '@switchboard/protocol';
import { pathOf, queryParam, sendError } from './plain';

const req = (url: string) => ({ url }) as IncomingMessage;

test('pathOf: origin-form, query strings and absolute-form targets', () => {
  expect(pathOf(req('/t/acme/mcp'))).toBe('/t/acme/mcp');
  expect(pathOf(req('/t/acme/messages?sessionId=abc'))).toBe('/t/acme/messages');
  expect(pathOf(req('http://127.0.0.1:3000/mcp?x=1'))).toBe('/mcp');
  expect(pathOf(req('*'))).toBe('*');
});

test('queryParam: first value, decoded; absent → undefined', () => {
  expect(queryParam(req('/messages?sessionId=a%2Fb&sessionId=c'), 'sessionId')).toBe('a/b');
  expect(queryParam(req('/messages'), 'sessionId')).toBeUndefined();
  expect(queryParam(req('/messages?other=1'), 'sessionId')).toBeUndefined();
});

test('sendError writes exactly what the protocol serializer makes of the error: status, headers, body', async () => {
  const err = new McpHttpError('TOO_MANY_STREAMS', { data: { max: 2 }, headers: { 'Retry-After': '3' } });
  const server = createServer((_req, res) => sendError(res, err));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const expected = httpErrorResponse(err);
    expect(res.status).toBe(expected.status);
    expect(res.headers.get('content-type')).toBe(expected.headers['Content-Type']);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.text()).toBe(expected.body);
    expect(JSON.parse(expected.body)).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Too Many Requests: concurrent stream limit reached', data: { max: 2 } } });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
