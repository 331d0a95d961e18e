export { UpstreamConfigSchema, describeUpstream, type UpstreamConfig } from './config';
export { UpstreamError, upstreamErrorBody, type UpstreamFailure } from './errors';
export { CircuitBreaker, type BreakerState } from './circuit-breaker';
export { UpstreamPool, type GatewayObserver } from './upstream-pool';
export { GatewayInstance, type GatewayInstanceDeps } from './gateway-instance';
export { createGatewayServerFactory } from './factory';
export { ModernProxy, type ModernFront } from './modern-proxy';
export { createModernToLegacyFactory, type ModernToLegacy } from './modern-front';
export { LegacyFront } from './legacy-front';
