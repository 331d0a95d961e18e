import type { ServerContext } from '@modelcontextprotocol/server';
import { createSealedRequestStateCodec, PRINCIPAL_EXTRA_KEY } from './request-state-codec';
import { parseRequestStateSecrets, resolveRequestStateSecrets } from './request-state-keys';
import { MemoryStore } from '@switchboard/store';

const ctx = (principal?: string, method = 'tools/call') =>
  ({ mcpReq: { method }, ...(principal !== undefined && { http: { authInfo: { token: '', clientId: principal, scopes: [], extra: { [PRINCIPAL_EXTRA_KEY]: principal } } } }) }) as unknown as ServerContext;
const A = Buffer.alloc(32, 1);
const B = Buffer.alloc(32, 2);
const codec = (secrets: Buffer[], tenant = 't1', ttlMs?: number) => createSealedRequestStateCodec<{ n: number }>({ tenant, secrets, ttlMs });

describe('sealed requestState codec', () => {
  test('round trip; the wire value is opaque (AEAD: the payload is not readable)', async () => {
    const state = await codec([A]).mint({ n: 42 }, ctx('alice'));
    expect(state).toMatch(/^sb1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+$/);
    expect(Buffer.from(state.split('.')[2]!, 'base64url').toString('latin1')).not.toContain('42');
    await expect(codec([A]).verify(state, ctx('alice'))).resolves.toEqual({ n: 42 });
  });

  test('rotation: the newest key seals, every key of the ring opens', async () => {
    const old = await codec([A]).mint({ n: 1 }, ctx('alice'));
    const rotated = codec([B, A]);
    await expect(rotated.verify(old, ctx('alice'))).resolves.toEqual({ n: 1 });
    const fresh = await rotated.mint({ n: 2 }, ctx('alice'));
    await expect(codec([B]).verify(fresh, ctx('alice'))).resolves.toEqual({ n: 2 });
    await expect(codec([A]).verify(fresh, ctx('alice'))).rejects.toThrow('unknown-key');
  });

  test.each([
    ['another principal', ctx('mallory'), 't1', 'open'],
    ['no principal (anonymous)', ctx(undefined), 't1', 'open'],
    ['another method', ctx('alice', 'prompts/get'), 't1', 'open'],
    ['another tenant', ctx('alice'), 't2', 'unknown-key'],
  ])('a state is foreign under %s', async (_name, verifyCtx, tenant, reason) => {
    const state = await codec([A]).mint({ n: 1 }, ctx('alice'));
    await expect(codec([A], tenant).verify(state, verifyCtx)).rejects.toThrow(reason);
  });

  test('tampered, expired and malformed states are rejected with an opaque reason', async () => {
    const rejected: string[] = [];
    const c = createSealedRequestStateCodec({ tenant: 't1', secrets: [A], onReject: (r) => rejected.push(r) });
    const state = await c.mint({ n: 1 }, ctx('alice'));
    const [v, kid, body] = state.split('.') as [string, string, string];
    const flipped = Buffer.from(body, 'base64url');
    flipped[20]! ^= 1;
    await expect(c.verify(`${v}.${kid}.${flipped.toString('base64url')}`, ctx('alice'))).rejects.toThrow('open');
    await expect(c.verify(`${state}x`, ctx('alice'))).rejects.toThrow('open');
    await expect(c.verify('not-a-state', ctx('alice'))).rejects.toThrow('malformed');
    await expect(c.verify(`${v}.${kid}.AAAA`, ctx('alice'))).rejects.toThrow('malformed');
    const expired = await codec([A], 't1', -1).mint({ n: 1 }, ctx('alice'));
    await expect(c.verify(expired, ctx('alice'))).rejects.toThrow('expired');
    expect(rejected).toEqual(['open', 'open', 'malformed', 'malformed', 'expired']);
  });

  test('secrets must be at least 256 bits', () => {
    expect(() => codec([Buffer.alloc(16)])).toThrow(RangeError);
    expect(() => codec([])).toThrow(RangeError);
  });
});

describe('requestState secrets', () => {
  test('REQUEST_STATE_KEYS: base64 or base64url, newest first; short or non-base64 entries stop start-up', () => {
    expect(parseRequestStateSecrets(undefined)).toBeUndefined();
    expect(parseRequestStateSecrets(' ')).toBeUndefined();
    const keys = parseRequestStateSecrets(`${B.toString('base64')}, ${A.toString('base64url')}`)!;
    expect(keys.map((k) => k[0])).toEqual([2, 1]);
    expect(() => parseRequestStateSecrets(Buffer.alloc(8).toString('base64'))).toThrow(/at least 32/);
    expect(() => parseRequestStateSecrets('not base64!')).toThrow(/entry 1 is not base64/);
  });

  test('without configured keys every node gets the tenant secret the first node stored', async () => {
    const store = new MemoryStore();
    const first = await resolveRequestStateSecrets(store, 't1', undefined);
    const second = await resolveRequestStateSecrets(store, 't1', undefined);
    expect(second[0]!.equals(first[0]!)).toBe(true);
    expect(first[0]!.length).toBe(32);
    expect((await resolveRequestStateSecrets(store, 't2', undefined))[0]!.equals(first[0]!)).toBe(false);
    expect(await resolveRequestStateSecrets(store, 't1', [A])).toEqual([A]);
    await store.close();
  });
});
