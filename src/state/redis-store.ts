/**
 * {@link StateStore} on Redis through ioredis (scope 'global'): standalone (`url`), Sentinel (`sentinels` +
 * `sentinelName`) or Cluster (`cluster` nodes). Layout under `keyPrefix` (default `lb:`):
 *
 * - `<prefix>values`: ONE hash, field = key, value = `<version>:<json>`. Each operation touches one Redis
 *   key, so Cluster never sees a cross-slot call and `list` is one HSCAN on one node. Control state is small
 *   (endpoints x facts), so one hash is enough.
 * - `<prefix>n:<key>`: counters (INCRBY + PEXPIRE on creation, in one Lua script).
 * - `<prefix>tb:<key>`: global rate-limit buckets, one hash each, expiring once full again (Lua).
 * - `<prefix>lease:<name>`: leases (value = holder id, PX expiry; Lua compare-and-renew / compare-and-delete).
 * - `<prefix>changes`: pub/sub channel; the compare-and-set script PUBLISHes the key it wrote, in the same
 *   atomic step, so a write is never left unannounced. In Cluster a classic PUBLISH reaches every node.
 *
 * Failure behaviour: `enableOfflineQueue: false` (calls fail at once while disconnected), ioredis
 * `commandTimeout` plus a guard timer on every call (a SIGSTOPped server cannot make a call wait longer than
 * `commandTimeoutMs` + 50 ms), reconnects forever with a backoff capped at `maxReconnectDelayMs`, and a PING
 * every `pingIntervalMs` so the status flips to 'degraded' (and back to 'up') even without traffic.
 */
import { createRequire } from 'node:module'
import type * as Ioredis from 'ioredis'
import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { LbError } from '../core/index.js'
import type { StateConfig } from '../config/index.js'
import { encodeValue, stateUnavailable, type StateStore, type StoreStatus, type Versioned } from './store.js'
import { TAKE_TOKENS_SCRIPT } from './token-bucket-script.js'

/** Connection settings: the `redis` variant of the `state` configuration. */
export type RedisStateConfig = Omit<Extract<StateConfig, { kind: 'redis' }>, 'kind' | 'keyPrefix'> & { keyPrefix?: string | undefined }

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions extends RedisStateConfig {
  /** Longest a call may take before it rejects with LB_ERR_STATE_UNAVAILABLE, ms; default 500. */
  commandTimeoutMs?: number
  /** TCP connect timeout, ms; default 1 000. */
  connectTimeoutMs?: number
  /** Health PING period, ms; default 1 000. */
  pingIntervalMs?: number
  /** Reconnect backoff cap, ms (50 ms, 100 ms, ... up to this); default 500. */
  maxReconnectDelayMs?: number
}

const CAS = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local ver = 0
if cur then ver = tonumber(string.sub(cur, 1, string.find(cur, ':', 1, true) - 1)) end
if ver ~= tonumber(ARGV[2]) then return 0 end
ver = ver + 1
redis.call('HSET', KEYS[1], ARGV[1], ver .. ':' .. ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return ver`
const INCR = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`
const ACQUIRE = `
local v = redis.call('GET', KEYS[1])
if v == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`

interface Scripts {
  lbCas(key: string, field: string, expected: number, json: string, channel: string): Promise<number>
  lbIncr(key: string, n: number, ttlMs: number): Promise<number>
  lbAcquire(key: string, holder: string, ttlMs: number): Promise<number>
  lbRenew(key: string, holder: string, ttlMs: number): Promise<number>
  lbRelease(key: string, holder: string): Promise<number>
  lbTakeTokens(key: string, want: number, owed: number, giveBack: number, rate: number, burst: number): Promise<[number, number]>
}
type Client = Redis | Cluster

/**
 * ioredis, loaded on the first Redis store: about 20 MiB of code and heap that every proxy worker and
 * the primary carried at start whether or not the configuration uses Redis (the state module is always
 * imported). ioredis is CommonJS, so a synchronous require keeps the constructor synchronous.
 */
function loadIoredis(): typeof Ioredis {
  return createRequire(import.meta.url)('ioredis') as typeof Ioredis
}

/** Reply errors that mean "the server cannot serve now", as opposed to a bug in a command. */
const UNAVAILABLE_REPLIES = /^(LOADING|CLUSTERDOWN|MASTERDOWN|READONLY|TRYAGAIN|BUSY|NOREPLICAS|MOVED|ASK)\b/

/** A Redis-backed store. Starts connecting at once; 'degraded' until the first connection is ready. */
export class RedisStore implements StateStore {
  readonly scope = 'global' as const
  /** The key prefix in use (`lb:` by default). */
  readonly keyPrefix: string
  private readonly client: Client
  private readonly sub: Client
  private readonly timeoutMs: number
  private readonly valuesKey: string
  private readonly channel: string
  private readonly watchers = new Set<{ prefix: string; listener: (key: string) => void }>()
  private readonly statusListeners = new Set<(s: StoreStatus) => void>()
  private readonly pinger: NodeJS.Timeout
  private status: StoreStatus = 'degraded'
  /** A call or PING failed for lack of a server; cleared by the next success. */
  private failing = false
  private closed = false

  constructor(options: RedisStoreOptions) {
    this.keyPrefix = options.keyPrefix ?? 'lb:'
    this.timeoutMs = options.commandTimeoutMs ?? 500
    this.valuesKey = `${this.keyPrefix}values`
    this.channel = `${this.keyPrefix}changes`
    const maxDelay = options.maxReconnectDelayMs ?? 500
    const backoff = (times: number): number => Math.min(50 * times, maxDelay)
    const common: RedisOptions = {
      commandTimeout: this.timeoutMs,
      connectTimeout: options.connectTimeoutMs ?? 1_000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // A call that failed was reported as failed: never replay it on the next connection.
      autoResendUnfulfilledCommands: false,
      retryStrategy: backoff,
      lazyConnect: false,
    }
    // The subscriber keeps its offline queue: SUBSCRIBE waits for the connection, and ioredis resubscribes
    // after every reconnect. It never carries a caller's command.
    const subExtra: RedisOptions = { enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined }
    const ioredis = loadIoredis()
    const make = (forSub: boolean): Client => {
      if (options.cluster !== undefined && options.cluster.length > 0) {
        const { retryStrategy: _r, enableOfflineQueue: _e, ...redisOptions } = forSub ? { ...common, ...subExtra } : common
        return new ioredis.Cluster(options.cluster, {
          enableOfflineQueue: forSub,
          clusterRetryStrategy: backoff,
          redisOptions,
          slotsRefreshTimeout: this.timeoutMs * 2,
          retryDelayOnClusterDown: 100,
          retryDelayOnFailover: 100,
          retryDelayOnTryAgain: 100,
        })
      }
      const o = forSub ? { ...common, ...subExtra } : common
      if (options.sentinels !== undefined && options.sentinels.length > 0) {
        return new ioredis.Redis({ ...o, sentinels: options.sentinels, name: options.sentinelName ?? 'mymaster', sentinelRetryStrategy: backoff })
      }
      if (options.url === undefined) throw new LbError('LB_ERR_CONFIG', 'state.redis: set url, sentinels or cluster')
      return new ioredis.Redis(options.url, o)
    }
    this.client = make(false)
    this.sub = make(true)
    for (const [name, script, keys] of [
      ['lbCas', CAS, 1],
      ['lbIncr', INCR, 1],
      ['lbAcquire', ACQUIRE, 1],
      ['lbRenew', RENEW, 1],
      ['lbRelease', RELEASE, 1],
      ['lbTakeTokens', TAKE_TOKENS_SCRIPT, 1],
    ] as const) {
      this.client.defineCommand(name, { numberOfKeys: keys, lua: script })
    }
    for (const c of [this.client, this.sub]) {
      // Errors also surface as rejected calls and as status changes; the listener keeps ioredis from
      // printing "Unhandled error event".
      c.on('error', () => this.recompute())
      // A fresh connection clears an earlier failure (a timeout seen before a reconnect).
      if (c === this.client) c.on('ready', () => { this.failing = false })
      for (const ev of ['ready', 'close', 'end', 'reconnecting', 'connect', '+node', '-node']) c.on(ev, () => this.recompute())
    }
    this.sub.on('message', (channel: string, key: string) => {
      if (channel !== this.channel) return
      for (const w of [...this.watchers]) {
        if (key.startsWith(w.prefix) && this.watchers.has(w)) w.listener(key)
      }
    })
    this.sub.subscribe(this.channel).catch(() => {})
    this.pinger = setInterval(() => {
      this.run(() => this.client.ping()).catch(() => {})
    }, options.pingIntervalMs ?? 1_000)
    this.pinger.unref()
  }

  get<T>(key: string): Promise<Versioned<T> | undefined> {
    return this.run(async () => {
      const raw = await this.client.hget(this.valuesKey, key)
      return raw === null ? undefined : decode<T>(raw)
    })
  }

  compareAndSet<T>(key: string, expectedVersion: number, value: T): Promise<boolean> {
    let json: string
    try {
      json = encodeValue(value)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.run(async () => (await this.scripts.lbCas(this.valuesKey, key, expectedVersion, json, this.channel)) > 0)
  }

  /**
   * Atomic token-bucket lease on the bucket `<prefix>tb:<key>` (its own key with a TTL: it expires once
   * full again, and never enters the values hash that mirrors rescan). Used by the global rate limiter.
   */
  takeTokens(key: string, r: { want: number; owed: number; giveBack: number }, p: { ratePerSecond: number; burst: number }): Promise<{ granted: number; remaining: number }> {
    return this.run(async () => {
      const [granted, remaining] = await this.scripts.lbTakeTokens(`${this.keyPrefix}tb:${key}`, r.want, r.owed, r.giveBack, p.ratePerSecond, p.burst)
      return { granted, remaining }
    })
  }

  incrementBy(key: string, n: number, ttlMs: number): Promise<number> {
    return this.run(() => this.scripts.lbIncr(`${this.keyPrefix}n:${key}`, Math.trunc(n), Math.max(0, Math.trunc(ttlMs))))
  }

  watch(prefix: string, listener: (key: string) => void): () => void {
    const w = { prefix, listener }
    if (!this.closed) this.watchers.add(w)
    return () => {
      this.watchers.delete(w)
    }
  }

  list<T>(prefix: string): Promise<Map<string, Versioned<T>>> {
    // HSCAN may take several round trips; each has the full timeout, so the guard covers the whole loop
    // with one timeout per round (a large hash on a healthy server is not an outage).
    return (async () => {
      const out = new Map<string, Versioned<T>>()
      const match = `${globEscape(prefix)}*`
      let cursor = '0'
      do {
        const [next, flat] = await this.run(() => this.client.hscan(this.valuesKey, cursor, 'MATCH', match, 'COUNT', 1000))
        for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i] as string, decode<T>(flat[i + 1] as string))
        cursor = next
      } while (cursor !== '0')
      return out
    })()
  }

  acquireLease(name: string, holderId: string, ttlMs: number): Promise<boolean> {
    return this.run(async () => (await this.scripts.lbAcquire(this.leaseKey(name), holderId, Math.max(1, Math.trunc(ttlMs)))) === 1)
  }

  renewLease(name: string, holderId: string, ttlMs: number): Promise<boolean> {
    return this.run(async () => (await this.scripts.lbRenew(this.leaseKey(name), holderId, Math.max(1, Math.trunc(ttlMs)))) === 1)
  }

  releaseLease(name: string, holderId: string): Promise<boolean> {
    return this.run(async () => (await this.scripts.lbRelease(this.leaseKey(name), holderId)) === 1)
  }

  health(): StoreStatus {
    return this.status
  }

  onStatus(listener: (status: StoreStatus) => void): () => void {
    this.statusListeners.add(listener)
    return () => {
      this.statusListeners.delete(listener)
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.pinger)
    this.watchers.clear()
    // disconnect(), not quit(): QUIT waits for a reply a frozen server never sends.
    this.client.disconnect()
    this.sub.disconnect()
    this.setStatus('degraded')
    this.statusListeners.clear()
  }

  private get scripts(): Scripts {
    return this.client as unknown as Scripts
  }

  private leaseKey(name: string): string {
    return `${this.keyPrefix}lease:${name}`
  }

  /** Runs one Redis call with the guard timeout and maps every failure to LB_ERR_STATE_UNAVAILABLE. */
  private run<R>(call: () => Promise<R>): Promise<R> {
    if (this.closed) return Promise.reject(stateUnavailable('store closed'))
    return new Promise<R>((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        this.fail()
        reject(stateUnavailable(`no answer within ${this.timeoutMs} ms`))
      }, this.timeoutMs + 50)
      call().then(
        (v) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          this.failing = false
          this.recompute()
          resolve(v)
        },
        (err: unknown) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          if (err instanceof Error && err.name === 'ReplyError' && !UNAVAILABLE_REPLIES.test(err.message)) {
            reject(new LbError('LB_ERR_INTERNAL', `state store rejected a command: ${err.message}`, { cause: err }))
            return
          }
          this.fail()
          reject(this.closed ? stateUnavailable('store closed', err) : stateUnavailable(err instanceof Error ? err.message : String(err), err))
        },
      )
    })
  }

  private fail(): void {
    this.failing = true
    this.recompute()
  }

  private recompute(): void {
    if (this.closed) return
    const ready = this.client.status === 'ready' && this.sub.status === 'ready'
    this.setStatus(ready && !this.failing ? 'up' : 'degraded')
  }

  private setStatus(s: StoreStatus): void {
    if (s === this.status) return
    this.status = s
    for (const l of [...this.statusListeners]) l(s)
  }
}

function decode<T>(raw: string): Versioned<T> {
  const colon = raw.indexOf(':')
  return { version: Number(raw.slice(0, colon)), value: JSON.parse(raw.slice(colon + 1)) as T }
}

/** Escapes Redis glob metacharacters so a prefix matches literally. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&')
}
