import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CATALOG, McpHttpError, catalogErrorBody, errorBodyFor } from './errors';

describe('error catalog', () => {
  test('docs/errors.md lists every kind with its HTTP status and code, and nothing else', () => {
    const doc = readFileSync(join(__dirname, '../../../docs/errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| ([A-Z_]+) \| (\d+)[^|]* \| (-\d+) \|/gm)].map((m) => [m[1], Number(m[2]), Number(m[3])]);
    const catalog = Object.entries(ERROR_CATALOG).map(([k, v]) => [k, v.httpStatus, v.code]);
    expect(rows.sort()).toEqual(catalog.sort());
  });

  test('errors serialize as JSON-RPC error bodies with the request id when known', () => {
    const err = new McpHttpError('INVALID_REQUEST', { id: 7, data: { why: 'x' } });
    expect(err.httpStatus).toBe(400);
    expect(errorBodyFor(err)).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32600, message: ERROR_CATALOG.INVALID_REQUEST.message, data: { why: 'x' } } });
    expect(catalogErrorBody('SESSION_NOT_FOUND')).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } });
  });
});
