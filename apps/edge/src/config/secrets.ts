/**
 * Secrets never sit in the tenant config file: a value `{ "env": "NAME" }` anywhere in it is replaced by the
 * environment variable NAME before validation. A missing variable stops start-up with the field's path.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const isEnvRef = (v: unknown): v is { env: string } =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { env?: unknown }).env === 'string';

export function resolveEnvRefs(value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (isEnvRef(value)) {
    const v = env[value.env];
    if (v === undefined || v === '') throw new ConfigError(`${path || '(root)'}: environment variable ${value.env} is not set`);
    return v;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveEnvRefs(v, env, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnvRefs(v, env, path ? `${path}.${k}` : k)]));
  }
  return value;
}
