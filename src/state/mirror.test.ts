import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryStore } from './memory-store.js'
import { StateMirror, type MirrorChange } from './mirror.js'
import { FlakyStore } from './store.suite.js'

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Resolves with the first change `mirror` emits for which `pred` holds. */
function nextChange<T>(mirror: StateMirror<T>, pred: (c: MirrorChange<T>) => boolean = () => true): Promise<MirrorChange<T>> {
  return new Promise((resolve) => {
    const off = mirror.onChange((c) => {
      if (!pred(c)) return
      off()
      resolve(c)
    })
  })
}

test('loads the prefix, follows writes from another handle, ignores other prefixes', async (t) => {
  const root = new MemoryStore()
  const writer = root.attach()
  await writer.compareAndSet('ep:a', 0, { drained: false })
  await writer.compareAndSet('other:x', 0, 1)
  const mirror = new StateMirror<{ drained: boolean }>({ store: root.attach(), prefix: 'ep:' })
  t.after(() => mirror.stop())
  assert.equal(await mirror.start(), true)
  assert.deepEqual(mirror.get('ep:a'), { drained: false })
  assert.equal(mirror.get('other:x'), undefined)
  assert.equal(mirror.size, 1)

  const changed = nextChange(mirror)
  await writer.compareAndSet('ep:a', 1, { drained: true })
  assert.deepEqual(await changed, { key: 'ep:a', value: { drained: true }, previous: { drained: false }, version: 2 })
  assert.deepEqual(mirror.getVersioned('ep:a'), { value: { drained: true }, version: 2 })
  const added = nextChange(mirror)
  await writer.compareAndSet('ep:b', 0, { drained: false })
  assert.equal((await added).key, 'ep:b')
  assert.deepEqual([...mirror.snapshot().keys()].sort(), ['ep:a', 'ep:b'])
})

test('serves the last values while the store is down and resyncs when it is up again', async (t) => {
  const root = new MemoryStore()
  const flaky = new FlakyStore(root.attach())
  await root.compareAndSet('k:1', 0, 'one')
  const mirror = new StateMirror<string>({ store: flaky, prefix: 'k:', retryIntervalMs: 20 })
  t.after(() => mirror.stop())
  await mirror.start()
  flaky.setDown(true)
  await root.compareAndSet('k:1', 1, 'missed')
  await root.compareAndSet('k:2', 0, 'missed too')
  assert.equal(await mirror.resync(), false)
  assert.equal(mirror.get('k:1'), 'one', 'last known value kept')
  const back = nextChange(mirror, (c) => c.key === 'k:2')
  flaky.setDown(false)
  await back
  assert.equal(mirror.get('k:1'), 'missed')
  assert.equal(mirror.get('k:2'), 'missed too')
})

test('a start against a down store resolves false and keeps retrying', async (t) => {
  const root = new MemoryStore()
  const flaky = new FlakyStore(root.attach())
  await root.compareAndSet('k:1', 0, 'one')
  flaky.setDown(true)
  const mirror = new StateMirror<string>({ store: flaky, prefix: 'k:', retryIntervalMs: 20 })
  t.after(() => mirror.stop())
  assert.equal(await mirror.start(), false)
  assert.equal(mirror.loaded, false)
  // Comes back without a status event (as a store whose outage nobody noticed): the retry timer loads it.
  ;(flaky as unknown as { down: boolean }).down = false
  const keepAlive = setTimeout(() => {}, 5_000) // the mirror's retry timer is unref'd
  await nextChange(mirror)
  clearTimeout(keepAlive)
  assert.equal(mirror.get('k:1'), 'one')
  assert.equal(mirror.loaded, true)
})

test('lost keys are written back (restoreLost) or dropped', async (t) => {
  // A fresh backend stands for a Redis restarted without persistence: same clients, empty data.
  let backend = new MemoryStore()
  const view = {
    get: <T,>(k: string) => backend.get<T>(k),
    list: <T,>(p: string) => backend.list<T>(p),
    compareAndSet: <T,>(k: string, v: number, x: T) => backend.compareAndSet(k, v, x),
    watch: () => () => {},
    onStatus: () => () => {},
  }
  const store = view as unknown as MemoryStore
  await backend.compareAndSet('k:1', 0, 'a')
  await backend.compareAndSet('k:1', 1, 'b')
  const restoring = new StateMirror<string>({ store, prefix: 'k:' })
  const dropping = new StateMirror<string>({ store, prefix: 'k:', restoreLost: false })
  t.after(() => {
    restoring.stop()
    dropping.stop()
  })
  await Promise.all([restoring.start(), dropping.start()])
  backend = new MemoryStore()
  const gone = nextChange(dropping)
  await dropping.resync()
  assert.deepEqual(await gone, { key: 'k:1', value: undefined, previous: 'b', version: 0 })
  await restoring.resync()
  assert.equal(restoring.get('k:1'), 'b', 'keeps serving')
  assert.deepEqual(await backend.get('k:1'), { value: 'b', version: 1 }, 'written back')
  await restoring.resync()
  assert.deepEqual(restoring.getVersioned('k:1'), { value: 'b', version: 1 }, 'follows the new versions')
  await tick()
})
