/**
 * Redis in a container through testcontainers (`@testcontainers/redis`), for suites that want the image the
 * deployment runs (docker-compose.yml's `redis:7.4-alpine`; where no registry is reachable,
 * scripts/local-images.sh builds a local stand-in under that tag, which testcontainers uses as is).
 *
 * Ryuk, testcontainers' reaper, is an image of its own that no local script builds, so it is off
 * (TESTCONTAINERS_RYUK_DISABLED) and `stop()` removes the container and its volumes. The engine started by
 * scripts/ensure-docker.sh publishes ports on 127.0.0.1 only (dockerd --ip), so the test reaches the
 * container over loopback. A Redis Cluster runs as one container on the host's network (its nodes bind and
 * announce 127.0.0.1, so cluster redirects work from the host without port mapping).
 */
import { dockerUnavailableReason } from './docker';
import { freePort } from './ports';
import { redisCommand } from './redis';
import { waitFor } from './wait';

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

export interface RedisClusterContainerHandle {
  /** `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...` (REDIS_URL syntax of the edge). */
  readonly url: string;
  readonly ports: number[];
  readonly id: string;
  stop(): Promise<void>;
}

/**
 * A `masters`-node Redis Cluster (no replicas) in one container of the Redis image: `redis-server` per node on
 * 127.0.0.1 (host network), joined by `redis-cli --cluster create`; resolves once every node reports
 * `cluster_state:ok`.
 */
export async function startRedisClusterContainer(opts: { masters?: number; image?: string } = {}): Promise<RedisClusterContainerHandle> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  const { GenericContainer, Wait } = await import('testcontainers');
  const ports: number[] = [];
  while (ports.length < (opts.masters ?? 3)) {
    const p = await freePort();
    // The cluster bus listens on port + 10000: both must be free.
    if (p + 10_000 < 65_536 && !ports.includes(p)) ports.push(p);
  }
  const node = (p: number) =>
    `redis-server --port ${p} --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file /tmp/nodes-${p}.conf --cluster-node-timeout 5000 --save '' --appendonly no --dir /tmp --daemonize yes --logfile /tmp/redis-${p}.log`;
  const script = [
    ...ports.map(node),
    ...ports.map((p) => `until redis-cli -p ${p} ping >/dev/null 2>&1; do sleep 0.1; done`),
    `redis-cli --cluster create ${ports.map((p) => `127.0.0.1:${p}`).join(' ')} --cluster-yes`,
    'echo cluster created',
    'exec tail -f /dev/null',
  ].join(' && ');
  const started = await new GenericContainer(opts.image ?? REDIS_IMAGE)
    .withNetworkMode('host')
    .withEntrypoint(['/bin/sh', '-c'])
    .withCommand([script])
    .withLabels({ 'org.switchboard.test': 'redis-cluster' })
    .withWaitStrategy(Wait.forLogMessage('cluster created'))
    .withStartupTimeout(60_000)
    .start();
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= started.stop({ remove: true, removeVolumes: true }).then(() => undefined));
  try {
    await waitFor(async () => (await Promise.all(ports.map((p) => redisCommand(p, ['CLUSTER', 'INFO']).catch(() => '')))).every((i) => /cluster_state:ok/.test(i)), {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'not every node of the container cluster reported cluster_state:ok',
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, ports, id: started.getId(), stop };
}
