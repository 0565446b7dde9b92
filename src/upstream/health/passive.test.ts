import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import diagnostics from 'node:diagnostics_channel'
import { CHANNELS, type EjectionEvent } from '../../core/index.js'
import type { OutlierDetectionConfig } from '../../config/index.js'
import { OutlierDetector, maxEjectedCount, type EjectionChange } from './passive.js'

/** A clock the test moves by hand. */
function manualClock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => void (t += ms) }
}

const base: OutlierDetectionConfig = { enabled: true, consecutiveFailures: 3, baseEjectionMs: 1_000, maxEjectionMs: 5_000, maxEjectedPercent: 50 }

function setup(ids: string[], overrides: Partial<OutlierDetectionConfig> = {}, random = (): number => 0) {
  const clock = manualClock()
  const detector = new OutlierDetector({ pool: 'api', config: { ...base, ...overrides }, clock, random, timers: false })
  detector.setEndpoints(ids)
  const changes: EjectionChange[] = []
  detector.onChange((c) => changes.push(c))
  const fail = (id: string, n: number, kind: 'connect' | '5xx' = '5xx'): boolean[] =>
    Array.from({ length: n }, () => detector.recordFailure(id, kind))
  return { clock, detector, changes, fail }
}

describe('maxEjectedCount', () => {
  it('floors the percentage but allows one ejection in pools of 2 or more', () => {
    assert.equal(maxEjectedCount(3, 50), 1)
    assert.equal(maxEjectedCount(4, 50), 2)
    assert.equal(maxEjectedCount(5, 10), 1)
    assert.equal(maxEjectedCount(10, 35), 3)
    assert.equal(maxEjectedCount(2, 100), 2)
    assert.equal(maxEjectedCount(1, 50), 0)
    assert.equal(maxEjectedCount(1, 100), 1)
    assert.equal(maxEjectedCount(0, 100), 0)
    assert.equal(maxEjectedCount(5, 0), 0)
    assert.equal(maxEjectedCount(3, 250), 3)
  })
})

describe('OutlierDetector', () => {
  it('ejects after consecutiveFailures in a row; a success in between resets the count', () => {
    const { detector, changes, fail } = setup(['a', 'b', 'c'])
    fail('a', 2)
    detector.recordSuccess('a')
    assert.deepEqual(fail('a', 2), [false, false])
    assert.equal(detector.isEjected('a'), false)
    assert.deepEqual(fail('a', 1, 'connect'), [true])
    assert.equal(detector.isEjected('a'), true)
    assert.deepEqual(changes, [{ id: 'a', ejected: true, reason: '3 consecutive failures (last: connect)', untilMs: 2_000, durationMs: 1_000, source: 'local' }])
  })

  it('expiry returns the endpoint, fires the listener and restarts the count', () => {
    const { clock, detector, changes, fail } = setup(['a', 'b'])
    fail('a', 3)
    clock.advance(999)
    detector.tick()
    assert.equal(detector.isEjected('a'), true)
    clock.advance(1)
    detector.tick()
    assert.equal(detector.isEjected('a'), false)
    assert.deepEqual(changes[1], { id: 'a', ejected: false, reason: 'ejection expired', source: 'local' })
    assert.deepEqual(fail('a', 2), [false, false], 'count restarted at 0')
  })

  it('ejection time doubles on repeat and is capped at maxEjectionMs', () => {
    const { clock, detector, changes, fail } = setup(['a', 'b'])
    const durations: number[] = []
    for (let i = 0; i < 5; i++) {
      fail('a', 3)
      const last = changes.at(-1)
      durations.push(last?.durationMs ?? -1)
      clock.advance(last?.durationMs ?? 0)
      detector.tick()
    }
    assert.deepEqual(durations, [1_000, 2_000, 4_000, 5_000, 5_000])
  })

  it('adds up to 10 % jitter to the ejection time', () => {
    const { changes, fail } = setup(['a', 'b'], {}, () => 0.999)
    fail('a', 3)
    const d = changes[0]?.durationMs ?? 0
    assert.ok(d > 1_099 && d < 1_100, String(d))
  })

  it('the multiplier decays by one per decayMs back in the pool', () => {
    const { clock, detector, changes, fail } = setup(['a', 'b'])
    const ejectAndExpire = (backMs: number): number => {
      clock.advance(backMs)
      fail('a', 3)
      const d = changes.at(-1)?.durationMs ?? -1
      clock.advance(d)
      detector.tick()
      return d
    }
    assert.deepEqual([ejectAndExpire(0), ejectAndExpire(0), ejectAndExpire(0)], [1_000, 2_000, 4_000])
    assert.equal(ejectAndExpire(1_000), 4_000, 'one step of decay, then one more ejection: 3rd level again')
    assert.equal(ejectAndExpire(10_000), 1_000, 'a long healthy period resets the multiplier')
  })

  it('with every endpoint failing, never more than maxEjectedPercent are ejected', () => {
    for (const [size, percent, cap] of [[3, 50, 1], [4, 50, 2], [10, 30, 3], [1, 50, 0], [2, 100, 2]] as const) {
      const ids = Array.from({ length: size }, (_, i) => `e${i}`)
      const { clock, detector, fail } = setup(ids, { maxEjectedPercent: percent })
      let peak = 0
      for (let round = 0; round < 50; round++) {
        for (const id of ids) fail(id, 1)
        peak = Math.max(peak, ids.filter((id) => detector.isEjected(id)).length)
        assert.ok(detector.ejectedCount <= cap, `${size}/${percent}%: ${detector.ejectedCount} > ${cap}`)
        clock.advance(700)
        detector.tick()
      }
      assert.equal(peak, cap, `${size} endpoints at ${percent}%`)
    }
  })

  it('an endpoint held in by the cap is ejected on its next failure once a slot frees', () => {
    const { clock, detector, fail } = setup(['a', 'b', 'c'])
    fail('a', 3)
    assert.deepEqual(fail('b', 4), [false, false, false, false])
    clock.advance(1_000)
    detector.tick()
    assert.deepEqual(fail('b', 1), [true])
  })

  it('ignores results for ejected and unknown endpoints, and everything when disabled', () => {
    const { detector, fail } = setup(['a', 'b'])
    fail('a', 3)
    detector.recordSuccess('a')
    assert.equal(detector.isEjected('a'), true)
    assert.deepEqual(fail('zz', 5), [false, false, false, false, false])
    const off = setup(['a', 'b'], { enabled: false })
    assert.deepEqual(off.fail('a', 10).includes(true), false)
  })

  it('setEndpoints forgets removed endpoints and frees their ejection slot', () => {
    const { detector, fail, changes } = setup(['a', 'b', 'c'])
    fail('a', 3)
    detector.setEndpoints(['b', 'c', 'd'])
    assert.equal(detector.isEjected('a'), false)
    assert.equal(detector.ejectedCount, 0)
    assert.deepEqual(fail('b', 3).at(-1), true)
    assert.equal(changes.length, 2)
    assert.deepEqual(detector.snapshot().map((s) => s.id), ['b', 'c', 'd'])
  })

  it('applyRemote and eject apply decisions from elsewhere, within the cap, tagged remote', () => {
    const { clock, detector, changes } = setup(['a', 'b', 'c'])
    assert.equal(detector.applyRemote({ id: 'a', ejected: true, durationMs: 500, reason: 'worker 2' }), true)
    assert.deepEqual(changes[0], { id: 'a', ejected: true, reason: 'worker 2', untilMs: 1_500, durationMs: 500, source: 'remote' })
    assert.equal(detector.applyRemote({ id: 'b', ejected: true, durationMs: 500 }), false, 'cap of 1 reached')
    assert.equal(detector.eject('a', 3_000), false, 'already ejected: only the end moves')
    clock.advance(600)
    detector.tick()
    assert.equal(detector.isEjected('a'), true)
    assert.equal(detector.applyRemote({ id: 'a', ejected: false }), true)
    assert.equal(changes.at(-1)?.source, 'remote')
    assert.equal(detector.applyRemote({ id: 'a', ejected: true }), false, 'no duration, nothing to do')
    assert.equal(detector.eject('a', clock.now()), false, 'an end in the past does nothing')
  })

  it('publishes on the ejection channel', () => {
    const seen: EjectionEvent[] = []
    const listener = (m: unknown): void => void seen.push(m as EjectionEvent)
    diagnostics.subscribe(CHANNELS.ejection, listener)
    try {
      const { clock, detector, fail } = setup(['a', 'b'])
      fail('a', 3)
      clock.advance(1_000)
      detector.tick()
    } finally {
      diagnostics.unsubscribe(CHANNELS.ejection, listener)
    }
    assert.deepEqual(seen, [
      { pool: 'api', endpoint: 'a', ejected: true, reason: '3 consecutive failures (last: 5xx)', untilMs: 2_000 },
      { pool: 'api', endpoint: 'a', ejected: false, reason: 'ejection expired' },
    ])
  })

  it('an unref\'d timer returns the endpoint at expiry (mock timers)', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
    const detector = new OutlierDetector({ pool: 'api', config: base, clock: { now: () => Date.now() }, random: () => 0 })
    detector.setEndpoints(['a', 'b'])
    const changes: boolean[] = []
    detector.onChange((c) => changes.push(c.ejected))
    for (let i = 0; i < 3; i++) detector.recordFailure('a', 'timeout')
    t.mock.timers.tick(999)
    assert.deepEqual(changes, [true])
    t.mock.timers.tick(1)
    assert.deepEqual(changes, [true, false])
    assert.equal(detector.isEjected('a'), false)
    detector.close()
  })
})
