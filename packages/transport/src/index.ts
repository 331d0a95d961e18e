export { LegacyEngine, type CallerContext, type LegacyEngineDeps } from './legacy-engine';
export { DEFAULT_ENGINE_OPTIONS, resolveOptions, type EngineOptions } from './options';
export type { ServerFactory, ServerLike } from './local-session';
export type { EngineHooks, Era, RequestDone } from './context';
export { Sse2024Transport } from './sse2024-transport';
export { ModernEngine, type ModernEngineDeps, type ModernHooks, type ModernCaller } from './modern-engine';
export { StoreEventBus, type StoreEventBusHooks } from './store-event-bus';
export { createSealedRequestStateCodec, principalOf, PRINCIPAL_EXTRA_KEY, type RequestStateCodecOptions } from './request-state-codec';
export { parseRequestStateSecrets, resolveRequestStateSecrets } from './request-state-keys';
