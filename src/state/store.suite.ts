/**
 * The one conformance suite of {@link StateStore}: every implementation (memory, Redis standalone, Cluster,
 * Sentinel) must pass it unchanged. `makeStore` returns a NEW store instance on the SAME backend at each call
 * (a second handle on one memory backend, a second client of one Redis), so watchers are checked across
 * instances. Each test works under its own random key prefix, so runs never see each other's keys.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { isLbError } from '../core/index.js'
import { stateUnavailable, whenUp, type StateStore, type Versioned } from './store.js'

/** Options of {@link runStoreConformance}. */
export interface ConformanceOptions {
  /** Short TTL used by expiry tests, ms; default 150. */
  ttlMs?: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Registers the conformance tests (node:test `describe`) for one implementation. */
export function runStoreConformance(name: string, makeStore: () => StateStore | Promise<StateStore>, options: ConformanceOptions = {}): void {
  const ttl = options.ttlMs ?? 150

  /** Two stores on one backend, up, and a fresh key prefix; both closed after the test. */
  async function setup(t: { after(fn: () => unknown): void }): Promise<{ a: StateStore; b: StateStore; p: string }> {
    const a = await makeStore()
    const b = await makeStore()
    t.after(() => Promise.all([a.close(), b.close()]))
    assert.equal(await whenUp(a), true, 'store a up')
    assert.equal(await whenUp(b), true, 'store b up')
    return { a, b, p: `conf-${randomUUID().slice(0, 8)}:` }
  }

  describe(`StateStore conformance: ${name}`, () => {
    it('get returns undefined for a missing key, then the written value with version 1', async (t) => {
      const { a, b, p } = await setup(t)
      assert.equal(await a.get(`${p}k`), undefined)
      const value = { s: 'x', n: 1.5, b: true, z: null, arr: [1, 'two', { three: 3 }] }
      assert.equal(await a.compareAndSet(`${p}k`, 0, value), true)
      assert.deepEqual(await b.get(`${p}k`), { value, version: 1 })
      assert.equal(a.scope === 'instance' || a.scope === 'global', true)
    })

    it('compareAndSet: 0 means must not exist, versions grow by one, a stale version fails', async (t) => {
      const { a, b, p } = await setup(t)
      const k = `${p}cas`
      assert.equal(await a.compareAndSet(k, 0, 'v1'), true)
      assert.equal(await b.compareAndSet(k, 0, 'again'), false)
      assert.equal(await b.compareAndSet(k, 1, 'v2'), true)
      assert.equal(await a.compareAndSet(k, 1, 'stale'), false)
      assert.equal(await a.compareAndSet(k, 3, 'future'), false)
      assert.deepEqual(await a.get(k), { value: 'v2', version: 2 })
      for (let v = 2; v < 6; v++) assert.equal(await a.compareAndSet(k, v, v), true)
      assert.deepEqual(await b.get(k), { value: 5, version: 6 })
      await assert.rejects(a.compareAndSet(k, 6, undefined), TypeError)
      assert.deepEqual(await b.get(k), { value: 5, version: 6 }, 'a rejected value changes nothing')
    })

    it('get returns a copy, never the stored object', async (t) => {
      const { a, p } = await setup(t)
      const obj = { n: 1 }
      await a.compareAndSet(`${p}copy`, 0, obj)
      obj.n = 2
      const got = await a.get<{ n: number }>(`${p}copy`)
      assert.equal(got?.value.n, 1)
      ;(got?.value as { n: number }).n = 3
      assert.equal((await a.get<{ n: number }>(`${p}copy`))?.value.n, 1)
    })

    it('concurrent compareAndSet with the same expected version: exactly one wins', async (t) => {
      const { a, b, p } = await setup(t)
      for (const expected of [0, 1]) {
        const calls = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).compareAndSet(`${p}race`, expected, `w${i}`))
        const results = await Promise.all(calls)
        assert.equal(results.filter(Boolean).length, 1, `one winner at expected ${expected}`)
      }
      assert.equal((await a.get(`${p}race`))?.version, 2)
    })

    it('list returns the values under a prefix only', async (t) => {
      const { a, b, p } = await setup(t)
      await a.compareAndSet(`${p}x:1`, 0, 1)
      await a.compareAndSet(`${p}x:2`, 0, 2)
      await a.compareAndSet(`${p}x:2`, 1, 22)
      await a.compareAndSet(`${p}y:1`, 0, 3)
      const got = await b.list<number>(`${p}x:`)
      assert.deepEqual([...got.entries()].sort(), [[`${p}x:1`, { value: 1, version: 1 }], [`${p}x:2`, { value: 22, version: 2 }]])
      assert.equal((await b.list(`${p}none:`)).size, 0)
      assert.equal((await b.list(`${p}*`)).size, 0, 'glob characters match literally')
    })

    it('incrementBy adds and returns the total, counters are not values', async (t) => {
      const { a, b, p } = await setup(t)
      assert.equal(await a.incrementBy(`${p}c`, 5, 0), 5)
      assert.equal(await b.incrementBy(`${p}c`, 3, 0), 8)
      assert.equal(await b.incrementBy(`${p}c`, -2, 0), 6)
      assert.equal(await a.incrementBy(`${p}other`, 1, 0), 1)
      assert.equal(await a.get(`${p}c`), undefined)
      const parallel = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).incrementBy(`${p}par`, 10, 0)))
      assert.deepEqual([...parallel].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => (i + 1) * 10), 'each total seen once')
    })

    it('incrementBy with a TTL: the window is fixed at creation and the counter restarts after it', async (t) => {
      const { a, b, p } = await setup(t)
      assert.equal(await a.incrementBy(`${p}w`, 1, ttl), 1)
      await sleep(ttl / 3)
      assert.equal(await b.incrementBy(`${p}w`, 1, ttl), 2, 'a later increment does not extend the window')
      await sleep(ttl + 100)
      assert.equal(await a.incrementBy(`${p}w`, 1, ttl), 1)
    })

    it('watch fires for writes from another instance, filtered by prefix, until unsubscribed', async (t) => {
      const { a, b, p } = await setup(t)
      const seen: string[] = []
      let wake: () => void = () => {}
      const off = a.watch(`${p}w:`, (key) => {
        seen.push(key)
        wake()
      })
      const next = (): Promise<void> => new Promise((r) => { wake = r })
      // Redis: the subscription may still be in flight; write until the first notification arrives.
      let arrived = false
      const first = next().then(() => { arrived = true })
      for (let v = 0; !arrived && v < 40; v++) {
        await b.compareAndSet(`${p}w:1`, v, v)
        await Promise.race([first, sleep(50)])
      }
      assert.equal(arrived, true, 'a notification arrived')
      await sleep(100) // let notifications of the warm-up writes drain
      seen.length = 0
      let got = next()
      await b.compareAndSet(`${p}other`, 0, 'ignored')
      const version = (await b.get(`${p}w:2`))?.version ?? 0
      await b.compareAndSet(`${p}w:2`, version, 'x')
      await got
      assert.deepEqual(seen, [`${p}w:2`], 'only the matching key, not the other prefix')
      got = next()
      await a.compareAndSet(`${p}w:3`, 0, 'own write')
      await got
      assert.deepEqual(seen, [`${p}w:2`, `${p}w:3`], 'own writes notify too')
      await b.compareAndSet(`${p}w:3`, 0, 'failed CAS')
      off()
      await b.compareAndSet(`${p}w:3`, 1, 'after unsubscribe')
      await sleep(100)
      assert.deepEqual(seen, [`${p}w:2`, `${p}w:3`], 'no event for a failed CAS or after unsubscribe')
    })

    it('leases are exclusive, renewable by their holder only, releasable, and expire', async (t) => {
      const { a, b, p } = await setup(t)
      const lease = `${p}prober`
      assert.equal(await a.acquireLease(lease, 'A', 5_000), true)
      assert.equal(await b.acquireLease(lease, 'B', 5_000), false)
      assert.equal(await b.acquireLease(lease, 'A', 5_000), true, 'the holder re-acquires (renews)')
      assert.equal(await b.renewLease(lease, 'B', 5_000), false)
      assert.equal(await a.renewLease(lease, 'A', 5_000), true)
      assert.equal(await b.releaseLease(lease, 'B'), false, 'only the holder releases')
      assert.equal(await a.releaseLease(lease, 'A'), true)
      assert.equal(await a.releaseLease(lease, 'A'), false)
      assert.equal(await b.acquireLease(lease, 'B', ttl), true)
      assert.equal(await a.acquireLease(lease, 'A', ttl), false)
      await sleep(ttl + 100)
      assert.equal(await a.renewLease(lease, 'B', ttl), false, 'an expired lease cannot be renewed')
      assert.equal(await a.acquireLease(lease, 'A', 5_000), true, 'an expired lease is free')
      assert.equal(await b.renewLease(lease, 'B', 5_000), false)
      assert.equal(await b.releaseLease(lease, 'B'), false)
      assert.equal(await b.acquireLease(`${p}other`, 'B', 5_000), true, 'leases are independent')
    })

    it('reports up, and after close every call rejects with LB_ERR_STATE_UNAVAILABLE', async (t) => {
      const { a, p } = await setup(t)
      assert.equal(a.health(), 'up')
      await a.compareAndSet(`${p}k`, 0, 1)
      await a.close()
      await a.close()
      const unavailable = (err: unknown): boolean => isLbError(err, 'LB_ERR_STATE_UNAVAILABLE')
      await assert.rejects(a.get(`${p}k`), unavailable)
      await assert.rejects(a.compareAndSet(`${p}k`, 1, 2), unavailable)
      await assert.rejects(a.incrementBy(`${p}c`, 1, 0), unavailable)
      await assert.rejects(a.list(p), unavailable)
      await assert.rejects(a.acquireLease(`${p}l`, 'A', 1_000), unavailable)
      await assert.rejects(a.renewLease(`${p}l`, 'A', 1_000), unavailable)
      await assert.rejects(a.releaseLease(`${p}l`, 'A'), unavailable)
      assert.equal(typeof a.watch(p, () => {}), 'function')
    })
  })
}

/**
 * Test double: wraps a store and can be switched "down" (every call rejects with LB_ERR_STATE_UNAVAILABLE,
 * status 'degraded', watch notifications dropped, as when Redis is unreachable) and back "up".
 */
export class FlakyStore implements StateStore {
  readonly scope: 'instance' | 'global'
  private down = false
  /** Calls made (including rejected ones), by method name. */
  readonly calls = new Map<string, number>()
  private readonly statusListeners = new Set<(s: 'up' | 'degraded') => void>()

  constructor(private readonly inner: StateStore) {
    this.scope = inner.scope
  }

  /** Switches the store down (true) or up (false) and reports the status change. */
  setDown(down: boolean): void {
    if (down === this.down) return
    this.down = down
    for (const l of [...this.statusListeners]) l(down ? 'degraded' : 'up')
  }

  private guard<R>(name: string, call: () => Promise<R>): Promise<R> {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1)
    return this.down ? Promise.reject(stateUnavailable('down (test)')) : call()
  }

  get<T>(key: string): Promise<Versioned<T> | undefined> {
    return this.guard('get', () => this.inner.get<T>(key))
  }
  compareAndSet<T>(key: string, expectedVersion: number, value: T): Promise<boolean> {
    return this.guard('compareAndSet', () => this.inner.compareAndSet(key, expectedVersion, value))
  }
  incrementBy(key: string, n: number, ttlMs: number): Promise<number> {
    return this.guard('incrementBy', () => this.inner.incrementBy(key, n, ttlMs))
  }
  watch(prefix: string, listener: (key: string) => void): () => void {
    return this.inner.watch(prefix, (key) => {
      if (!this.down) listener(key)
    })
  }
  list<T>(prefix: string): Promise<Map<string, Versioned<T>>> {
    return this.guard('list', () => this.inner.list<T>(prefix))
  }
  acquireLease(name: string, holderId: string, ttlMs: number): Promise<boolean> {
    return this.guard('acquireLease', () => this.inner.acquireLease(name, holderId, ttlMs))
  }
  renewLease(name: string, holderId: string, ttlMs: number): Promise<boolean> {
    return this.guard('renewLease', () => this.inner.renewLease(name, holderId, ttlMs))
  }
  releaseLease(name: string, holderId: string): Promise<boolean> {
    return this.guard('releaseLease', () => this.inner.releaseLease(name, holderId))
  }
  health(): 'up' | 'degraded' {
    return this.down ? 'degraded' : this.inner.health()
  }
  onStatus(listener: (status: 'up' | 'degraded') => void): () => void {
    this.statusListeners.add(listener)
    return () => {
      this.statusListeners.delete(listener)
    }
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}
