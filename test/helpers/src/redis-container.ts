/**
 * Redis in a container through testcontainers (`@testcontainers/redis`), for suites that want the image the
 * deployment runs (docker-compose.yml's `redis:7.4-alpine`; where no registry is reachable,
 * scripts/local-images.sh builds a local stand-in under that tag, which testcontainers uses as is).
 *
 * Ryuk, testcontainers' reaper, is an image of its own that no local script builds, so it is off
 * (TESTCONTAINERS_RYUK_DISABLED) and `stop()` removes the container and its volumes. The engine started by
 * scripts/ensure-docker.sh publishes ports on 127.0.0.1 only (dockerd --ip), so the test reaches the
 * container over loopback.
 */
import { dockerUnavailableReason } from './docker';

export const REDIS_IMAGE = process.env.SWITCHBOARD_REDIS_IMAGE ?? 'redis:7.4-alpine';

export interface RedisContainerHandle {
  /** `redis://127.0.0.1:PORT` (the published port). */
  readonly url: string;
  readonly port: number;
  /** The container's id, for `docker` commands. */
  readonly id: string;
  /** Stops and removes the container (and its anonymous volumes). Idempotent. */
  stop(): Promise<void>;
}

/** Why Redis containers cannot be started here (no engine, or the image is missing), or undefined. */
export function redisContainerUnavailableReason(): string | undefined {
  return dockerUnavailableReason();
}

export async function startRedisContainer(opts: { image?: string } = {}): Promise<RedisContainerHandle> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  const { RedisContainer } = await import('@testcontainers/redis');
  const started = await new RedisContainer(opts.image ?? REDIS_IMAGE).withLabels({ 'org.switchboard.test': 'redis' }).start();
  const port = started.getPort();
  let stopping: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    id: started.getId(),
    stop() {
      stopping ??= started.stop({ remove: true, removeVolumes: true }).then(() => undefined);
      return stopping;
    },
  };
}
