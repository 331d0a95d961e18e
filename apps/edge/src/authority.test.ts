import { parseAuthority, parseOrigin } from './authority';
import { allowedOrigin } from './pipeline/cors';
import { headerExcerpt } from '@switchboard/protocol';

describe('strict authority parsing (Host header)', () => {
  test.each([
    ['localhost', { host: 'localhost' }],
    ['LOCALHOST:3000', { host: 'localhost', port: 3000 }],
    ['127.0.0.1:80', { host: '127.0.0.1', port: 80 }],
    ['[::1]', { host: '[::1]' }],
    ['[::1]:8080', { host: '[::1]', port: 8080 }],
    ['mcp.acme.example', { host: 'mcp.acme.example' }],
    ['edge-1:65535', { host: 'edge-1', port: 65535 }],
  ])('%s is accepted', (value, expected) => {
    expect(parseAuthority(value)).toEqual(expected);
  });

  test.each([
    '127.0.0.1:80@evil.example',
    'localhost:evil',
    '[::1]junk',
    '[::1]:junk',
    '[evil]',
    'localhost:0',
    'localhost:65536',
    'localhost:',
    'user@localhost',
    'localhost/x',
    'local host',
    '',
    'a'.repeat(300),
    '-bad.example',
  ])('%s is refused', (value) => {
    expect(parseAuthority(value)).toBeNull();
  });
});

describe('origins', () => {
  const policy = { corsOrigins: ['https://app.acme.example'], allowLoopback: true };
  test('only exact scheme://host[:port] origins parse; the normalized form is what is echoed', () => {
    expect(parseOrigin('http://LOCALHOST:5000')).toEqual({ origin: 'http://localhost:5000', host: 'localhost' });
    expect(allowedOrigin('http://LOCALHOST:5000', policy)).toBe('http://localhost:5000');
    expect(allowedOrigin('https://app.acme.example:443', policy)).toBe('https://app.acme.example');
    for (const bad of ['http://127.0.0.1:80@evil.example', 'http://localhost:evil', 'http://[::1]junk', 'http://localhost/path', 'null', 'file://localhost', 'http://localhost:5000 ']) {
      expect(allowedOrigin(bad, policy)).toBeUndefined();
    }
    expect(allowedOrigin('https://evil.example', policy)).toBeUndefined();
    expect(allowedOrigin('http://localhost:5000', { ...policy, allowLoopback: false })).toBeUndefined();
  });
});

describe('header excerpts in errors', () => {
  test('bounded to 64 characters, non-printable characters replaced', () => {
    const long = `2026-${'A'.repeat(8000)}`;
    expect(headerExcerpt(long)).toBe(`${long.slice(0, 64)}…`);
    expect(headerExcerpt('a\u0000b\u00e9<c>')).toBe('a?b?<c>');
  });
});
