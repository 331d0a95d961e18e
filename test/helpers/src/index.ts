/** @switchboard/test-helpers: real Redis, real edge processes, real nginx. No mocks. */
export { REPO_ROOT, makeTempDir, removeTempDir } from './paths';
export { freePort } from './ports';
export { sleep, waitFor, WaitAborted, withTimeout, times, shouldNotHappen, waitForPort, inParallel, type WaitForOptions } from './wait';
export {
  spawnManaged,
  killAllSync,
  liveProcessCount,
  LogBuffer,
  type ManagedProcess,
  type SpawnOptions,
  type ExitInfo,
} from './process';
export { startRedis, redisCommand, scanKeys, type RedisServer, type StartRedisOptions } from './redis';
export { startRedisCluster, type RedisClusterHandle, type StartRedisClusterOptions, type ClusterNodeInfo } from './redis-cluster';
export { pubSubCounters, diffPubSubCounters, handledMessages, type PubSubCounters } from './pubsub-stats';
export { startEdge, EDGE_ENTRY, type Edge, type StartEdgeOptions } from './edge';
export { startWorker, WORKER_ENTRY, type Worker } from './worker';
export { startNginx, renderNginxConfig, NGINX_TEMPLATE, type Nginx, type StartNginxOptions } from './nginx';
export { startCluster, type EdgeCluster, type StartClusterOptions } from './cluster';
export { readSse, collectSse, recordSse, SseTimeoutError, type SseEvent, type SseRecorder, type ReadSseOptions, type CollectSseOptions } from './sse';
export {
  MESSAGES,
  PROTOCOL_VERSIONS,
  LATEST_PROTOCOL_VERSION,
  CLIENT_CAPABILITIES,
  CLIENT_INFO,
  initializeRequest,
  toolsCallRequest,
  mcpHeaders,
  type ProtocolVersion,
  type JsonRpcRequest,
  type JsonRpcNotification,
} from './messages';
export { withLogs, type HasLogs } from './logs';
export { docker, runDocker, dockerCli, dockerAvailable, dockerUnavailableReason, composeCli, type DockerResult } from './docker';
export { startRedisContainer, startRedisClusterContainer, redisContainerUnavailableReason, REDIS_IMAGE, type RedisContainerHandle, type RedisClusterContainerHandle } from './redis-container';
