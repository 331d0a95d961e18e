import { McpHttpError } from './errors';
import { exceedsDepth, parseBody, requestIdKey } from './jsonrpc';
import { compareEntryIds, decodeEventId, encodeEventId, isValidSessionId, newSessionId } from './ids';
import { formatSseEvent } from './sse';
import { negotiateVersion2025, supportsPriming, allowsBatches } from './versions';

const limits = { maxBatchLength: 3, maxDepth: 8 };
const kindOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as McpHttpError).kind;
  }
  return 'ok';
};

describe('parseBody', () => {
  test('accepts requests, notifications, results and errors', () => {
    const { messages, batch } = parseBody('[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},{"jsonrpc":"2.0","id":"x","result":{}},{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m"}}]', { ...limits, maxBatchLength: 10 });
    expect(batch).toBe(true);
    expect(messages).toHaveLength(4);
  });
  test.each([
    ['{', 'PARSE_ERROR'],
    ['{"jsonrpc":"1.0","id":1,"method":"a"}', 'INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1.5,"method":"a"}', 'INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":{},"method":"a"}', 'INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1,"method":""}', 'INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1,"method":"a","params":[1]}', 'INVALID_REQUEST'],
    ['{"jsonrpc":"2.0","id":1,"result":{},"error":{}}', 'INVALID_REQUEST'],
    ['[]', 'EMPTY_BATCH'],
    ['[1,2,3,4]', 'BATCH_TOO_LARGE'],
    ['"str"', 'INVALID_REQUEST'],
    [`{"jsonrpc":"2.0","id":"${'x'.repeat(257)}","method":"a"}`, 'INVALID_REQUEST'],
    [`{"jsonrpc":"2.0","id":1,"method":"a","params":{"a":${'['.repeat(20)}${']'.repeat(20)}}}`, 'INVALID_REQUEST'],
  ])('%s → %s', (body, kind) => {
    expect(kindOf(() => parseBody(body, limits))).toBe(kind);
  });
  test('depth check is iterative and exact', () => {
    expect(exceedsDepth({ a: { b: {} } }, 3)).toBe(false);
    expect(exceedsDepth({ a: { b: { c: {} } } }, 3)).toBe(true);
  });
  test('request id keys never collide between numbers and strings', () => {
    expect(requestIdKey(1)).not.toBe(requestIdKey('1'));
  });
});

describe('ids and framing', () => {
  test('event ids round-trip and reject anything else', () => {
    expect(decodeEventId(encodeEventId('abc', '123-4'))).toEqual({ streamId: 'abc', entryId: '123-4' });
    for (const bad of ['', 'abc', 'abc_1', 'a b_1-2', 'abc_1-2-3', '../x_1-2']) expect(decodeEventId(bad)).toBeNull();
  });
  test('entry ids compare numerically', () => {
    expect(compareEntryIds('9-0', '10-0')).toBe(-1);
    expect(compareEntryIds('10-2', '10-10')).toBe(-1);
    expect(compareEntryIds('10-2', '10-2')).toBe(0);
  });
  test('session ids are 128-bit hex', () => {
    const sid = newSessionId();
    expect(isValidSessionId(sid)).toBe(true);
    expect(isValidSessionId('X'.repeat(32))).toBe(false);
  });
  test('SSE frames carry id, retry and every data line', () => {
    expect(formatSseEvent({ id: 's_1-0', data: '', retryMs: 500 })).toBe('id: s_1-0\nretry: 500\ndata: \n\n');
    expect(formatSseEvent({ data: 'a\nb' })).toBe('data: a\ndata: b\n\n');
  });
  test('version rules', () => {
    expect(negotiateVersion2025('2025-06-18')).toBe('2025-06-18');
    expect(negotiateVersion2025('2099-01-01')).toBe('2025-11-25');
    expect(supportsPriming('2025-11-25')).toBe(true);
    expect(supportsPriming('2025-06-18')).toBe(false);
    expect(allowsBatches('2025-03-26')).toBe(true);
    expect(allowsBatches('2025-06-18')).toBe(false);
  });
});
