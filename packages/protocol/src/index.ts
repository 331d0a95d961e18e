export * from './versions';
export * from './errors';
export * from './jsonrpc';
export * from './sse';
export * from './ids';
export * from './headers';
