import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { HealthThresholds } from './thresholds.js'

/** Feeds a script of results and returns the flips as a string: '.' no flip, 'U' turned up, 'D' turned down. */
function run(t: HealthThresholds, script: string): string {
  return [...script].map((c) => (t.observe(c === '1') ? (t.healthy ? 'U' : 'D') : '.')).join('')
}

describe('HealthThresholds', () => {
  it('starts healthy by default, unhealthy on request', () => {
    assert.equal(new HealthThresholds(2, 3).healthy, true)
    assert.equal(new HealthThresholds(2, 3, false).healthy, false)
  })

  it('falls after exactly `fall` consecutive failures, and reports the flip once', () => {
    const t = new HealthThresholds(2, 3)
    assert.equal(run(t, '00000'), '..D..')
    assert.equal(t.healthy, false)
  })

  it('rises after exactly `rise` consecutive successes', () => {
    const t = new HealthThresholds(2, 3, false)
    assert.equal(run(t, '1111'), '.U..')
    assert.equal(t.healthy, true)
  })

  it('successes while healthy and failures while unhealthy never flip', () => {
    assert.equal(run(new HealthThresholds(1, 1), '1111'), '....')
    assert.equal(run(new HealthThresholds(1, 1, false), '0000'), '....')
  })

  it('alternating results never flip when both thresholds are above 1', () => {
    const up = new HealthThresholds(2, 2)
    const down = new HealthThresholds(2, 2, false)
    assert.equal(run(up, '0101010101'), '..........')
    assert.equal(run(down, '1010101010'), '..........')
  })

  it('a result that agrees with the state resets the pending streak', () => {
    const t = new HealthThresholds(2, 3)
    assert.equal(run(t, '00100'), '.....')
    assert.equal(t.pending, 2)
    assert.equal(run(t, '0'), 'D')
    assert.equal(t.pending, 0)
  })

  it('rise after fall needs a full run from the new state', () => {
    const t = new HealthThresholds(3, 2)
    assert.equal(run(t, '00'), '.D')
    assert.equal(run(t, '110111'), '.....U')
    assert.equal(run(t, '0100'), '...D')
  })

  it('thresholds of 1 flip on every disagreeing result', () => {
    const t = new HealthThresholds(1, 1)
    assert.equal(run(t, '0101'), 'DUDU')
  })

  it('values below 1, NaN and fractions are normalised', () => {
    const t = new HealthThresholds(0, Number.NaN)
    assert.equal(t.rise, 1)
    assert.equal(t.fall, 1)
    assert.equal(new HealthThresholds(2.9, -3).rise, 2)
    assert.equal(new HealthThresholds(2.9, -3).fall, 1)
  })

  it('reset forces a state and clears the streak', () => {
    const t = new HealthThresholds(2, 2)
    t.observe(false)
    t.reset(false)
    assert.equal(t.healthy, false)
    assert.equal(t.pending, 0)
    assert.equal(run(t, '11'), '.U')
  })
})
