export { UpstreamConfigSchema, describeUpstream, type UpstreamConfig } from './config';
export { UpstreamError, upstreamErrorBody, type UpstreamFailure } from './errors';
export { CircuitBreaker, type BreakerState } from './circuit-breaker';
export { UpstreamPool, type GatewayObserver } from './upstream-pool';
export { GatewayInstance, type GatewayInstanceDeps } from './gateway-instance';
export { createGatewayServerFactory } from './factory';
export { Proxy2026, type Front2026 } from './proxy-2026';
export { createTranslatingFactory2026To2025, type Translator2026To2025 } from './translator-2026-to-2025';
export { Front2025 } from './front-2025';
