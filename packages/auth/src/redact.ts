/**
 * The only form in which a credential may reach a log line, a metric or an `AuthInfo`: a short prefix and
 * the length. Short secrets show fewer characters so the prefix never gives away a useful share of a key.
 */
export function redact(token: string | undefined | null): string {
  if (!token) return '<none>';
  const shown = Math.min(6, Math.floor(token.length / 4));
  return `${token.slice(0, shown)}…(${token.length})`;
}
