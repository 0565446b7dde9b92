/**
 * The HMAC key of sticky-session cookies for pools that do not write `stickySession.secret`: env
 * `LB_STICKY_SECRET`, else a random key made once per process. Only the primary loads the
 * configuration (workers receive it over IPC), so every worker of one instance gets the same key, and
 * reloads keep it; two instances honour each other's cookies only with a configured secret.
 */
import { randomBytes } from 'node:crypto'
import type { LbConfig } from './types.js'

/** Shortest secret accepted, in characters. */
export const MIN_STICKY_SECRET_LENGTH = 16

let processSecret: string | undefined

/**
 * Fills in the secret of every cookie-sticky pool that has none. Returns a problem (for the
 * environment variable) when `LB_STICKY_SECRET` is set but too short.
 */
export function resolveStickySecrets(config: LbConfig, env: NodeJS.ProcessEnv): string[] {
  const fromEnv = env.LB_STICKY_SECRET
  if (fromEnv !== undefined && fromEnv !== '' && fromEnv.length < MIN_STICKY_SECRET_LENGTH) {
    return [`env LB_STICKY_SECRET: expected a secret of at least ${MIN_STICKY_SECRET_LENGTH} characters, got ${fromEnv.length}`]
  }
  for (const pool of Object.values(config.pools)) {
    const sticky = pool.stickySession
    if (sticky?.kind !== 'cookie' || sticky.secret !== '') continue
    sticky.secret = fromEnv !== undefined && fromEnv !== '' ? fromEnv : (processSecret ??= randomBytes(32).toString('base64url'))
  }
  return []
}
