export * from './config';
export * from './authenticator';
export { redact } from './redact';
export { hashApiKey } from './api-keys';
export type { AuthFailure, AuthFailureReason } from './challenge';
export { JWKS_RETRY_AFTER_SEC } from './challenge';
export { MAX_CREDENTIAL_LENGTH } from './credentials';
export {
  audienceIncludesResource,
  buildProtectedResourceMetadata,
  canonicalResourceUrl,
  protectedResourceMetadataPath,
  protectedResourceMetadataUrl,
} from './resource';
