/**
 * Per-route rate limiting: token buckets shared by all workers (scope `local`, through the
 * primary) or by all instances (scope `global`, through the state store), decided synchronously per request
 * from tokens leased in the background. See docs/rate-limiting.md.
 */
export { TokenBucket } from './token-bucket.js'
export { RouteRateLimiter, type RouteRateLimiterOptions, type RateLimitPolicy, type RateLimitResult } from './route-rate-limiter.js'
export { InProcessTokenSource, type InProcessTokenSourceOptions, type TokenSource, type LeaseBatch, type LeaseGrant, type LeaseRequest, type SyncTokenAuthority } from './token-source.js'
export { RateLimitAuthority, type RateLimitAuthorityOptions } from './rate-limit-authority.js'
export {
  LocalTokenSource,
  isRateLimitLeaseMessage,
  type LocalTokenSourceOptions,
  type RateLimitGrantMessage,
  type RateLimitLeaseMessage,
} from './local-token-source.js'
export { StoreTokenSource, hasTakeTokens, type StoreTokenSourceOptions, type TokenBucketStore } from './store-token-source.js'
export { RateLimitPrimary, type RateLimitPrimaryOptions } from './rate-limit-primary.js'
export { rateLimitHeaders, formatRateLimitPolicy } from './headers.js'
export { rateLimitKey, boundedRateLimitKey } from './rate-limit-key.js'
