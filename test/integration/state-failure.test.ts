/**
 * Redis failures against a real redis-server started here: SIGKILL then restart (empty: no persistence), and
 * SIGSTOP. Calls never wait longer than the command timeout, the mirror keeps serving, the status follows,
 * and everything resynchronises when Redis is back.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { isLbError } from '../../src/core/index.js'
import { BatchedCounter, RedisStore, SequenceLeaser, StateMirror, whenUp, type StateStore, type StoreStatus } from '../../src/state/index.js'
import { startRedis, type RedisHandle } from '../helpers/redis.js'

const TIMEOUT = 300
const SLACK = 150
let redis: RedisHandle
before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis.stop()
})

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const makeStore = (prefix: string): RedisStore =>
  new RedisStore({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: TIMEOUT, pingIntervalMs: 200 })

function waitStatus(store: StateStore, want: StoreStatus, ms: number): Promise<number> {
  const t0 = Date.now()
  if (store.health() === want) return Promise.resolve(0)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`status not ${want} within ${ms} ms`)), ms)
    const off = store.onStatus((s) => {
      if (s !== want) return
      clearTimeout(timer)
      off()
      resolve(Date.now() - t0)
    })
  })
}

/** Runs `call` and returns how long it took to settle and whether it rejected with LB_ERR_STATE_UNAVAILABLE. */
async function timed(call: () => Promise<unknown>): Promise<{ ms: number; unavailable: boolean }> {
  const t0 = performance.now()
  try {
    await call()
    return { ms: performance.now() - t0, unavailable: false }
  } catch (err) {
    assert.ok(isLbError(err, 'LB_ERR_STATE_UNAVAILABLE'), `unexpected error ${String(err)}`)
    return { ms: performance.now() - t0, unavailable: true }
  }
}

async function eventually(pred: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const t0 = Date.now()
  while (!(await pred().catch(() => false))) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(20)
  }
}

function until(pred: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now()
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (pred()) resolve(Date.now() - t0)
      else if (Date.now() - t0 > ms) reject(new Error(`${what}: not within ${ms} ms`))
      else setTimeout(check, 20)
    }
    check()
  })
}

test('SIGKILL: calls fail fast, the mirror serves its last values; restart: up, restored and resynced within 2 s', async (t) => {
  const a = makeStore('kill:')
  const b = makeStore('kill:')
  const mirror = new StateMirror<{ drained: boolean }>({ store: a, prefix: 'ep:', resyncIntervalMs: 60_000 })
  const seq = new SequenceLeaser({ store: a, key: 'rr', blockSize: 10, retryDelayMs: 200 })
  // A fixed instant in the middle of a window: a minute boundary during the test must not split the counts.
  const window = Math.floor(Date.now() / 60_000)
  const counter = new BatchedCounter({ store: a, windowMs: 60_000, flushIntervalMs: 50, clock: { now: () => window * 60_000 + 30_000 } })
  t.after(async () => {
    mirror.stop()
    seq.close()
    await counter.close()
    await Promise.all([a.close(), b.close()])
  })
  assert.equal(await whenUp(a), true)
  assert.equal(await whenUp(b), true)
  await b.compareAndSet('ep:a', 0, { drained: false })
  await b.compareAndSet('ep:b', 0, { drained: true })
  assert.equal(await mirror.start(), true)
  await seq.start()
  counter.add('c', 5)
  await counter.flush()
  assert.equal(counter.count('c'), 5)

  await redis.kill('SIGKILL')
  const calls = await Promise.all([
    timed(() => a.get('ep:a')),
    timed(() => a.compareAndSet('ep:a', 1, { drained: true })),
    timed(() => a.incrementBy('n', 1, 0)),
    timed(() => a.list('ep:')),
    timed(() => a.acquireLease('l', 'A', 1_000)),
  ])
  for (const c of calls) {
    assert.equal(c.unavailable, true)
    assert.ok(c.ms < TIMEOUT + SLACK, `rejected in ${c.ms.toFixed(0)} ms`)
  }
  await waitStatus(a, 'degraded', 1_000)
  assert.deepEqual(mirror.get('ep:a'), { drained: false }, 'mirror keeps its last values')
  assert.deepEqual(mirror.get('ep:b'), { drained: true })
  assert.equal(await mirror.resync(), false)
  const numbers = Array.from({ length: 30 }, () => seq.next())
  assert.ok(numbers.every((n) => typeof n === 'number'), 'round robin goes on locally')
  assert.equal(counter.add('c'), 6, 'counter falls back to local counting')

  const t0 = Date.now()
  await redis.restart()
  await waitStatus(a, 'up', 2_000)
  // Redis came back empty: the mirror writes its last values back, then follows new writes.
  await eventually(async () => (await b.list('ep:')).size === 2, 2_000, 'mirror restored the lost keys')
  assert.deepEqual(await b.get('ep:b'), { value: { drained: true }, version: 1 })
  assert.equal(await b.compareAndSet('ep:a', 1, { drained: true }), true)
  await until(() => mirror.get('ep:a')?.drained === true, 2_000, 'write after restart reaches the mirror')
  const resyncMs = Date.now() - t0
  assert.ok(resyncMs < 2_000 + 1_000, `resynchronised ${resyncMs} ms after the restart began`)
  await until(() => { seq.next(); return seq.isGlobal }, 2_000, 'sequence leases blocks again')
  await eventually(async () => (await a.incrementBy(`rl:c:${window}`, 0, 0)) === 1, 2_000, 'the fallback increment reached Redis')
})

test('SIGSTOP for 2 s: no call waits longer than the timeout; status degraded, then up', async (t) => {
  const a = makeStore('stop:')
  const mirror = new StateMirror<number>({ store: a, prefix: 'k:', resyncIntervalMs: 60_000 })
  t.after(async () => {
    mirror.stop()
    await redis.kill('SIGCONT')
    await a.close()
  })
  assert.equal(await whenUp(a), true)
  await a.compareAndSet('k:1', 0, 1)
  await mirror.start()

  await redis.kill('SIGSTOP')
  const frozenAt = Date.now()
  let slowest = 0
  let failures = 0
  while (Date.now() - frozenAt < 2_000) {
    const results = await Promise.all([
      timed(() => a.get('k:1')),
      timed(() => a.compareAndSet('k:1', 1, 2)),
      timed(() => a.incrementBy('n', 1, 0)),
    ])
    for (const r of results) {
      slowest = Math.max(slowest, r.ms)
      if (r.unavailable) failures++
    }
  }
  assert.ok(slowest < TIMEOUT + SLACK, `slowest call ${slowest.toFixed(0)} ms`)
  assert.ok(failures > 0)
  assert.equal(a.health(), 'degraded')
  assert.equal(mirror.get('k:1'), 1, 'mirror serves while Redis is frozen')

  await redis.kill('SIGCONT')
  const upMs = await waitStatus(a, 'up', 2_000)
  assert.ok(upMs < 2_000)
  // A compareAndSet that timed out may still have run when Redis woke up: the version tells.
  const now = await a.get<number>('k:1')
  assert.ok(now !== undefined)
  assert.equal(await a.compareAndSet('k:1', now.version, 3), true)
  await until(() => mirror.get('k:1') === 3, 2_000, 'mirror follows after SIGCONT')
})
