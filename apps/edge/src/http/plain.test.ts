import type { IncomingMessage } from 'node:http';
import { pathOf, queryParam } from './plain';

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
