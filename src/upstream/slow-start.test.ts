import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isRamping, slowStartWeight } from './slow-start.js'

describe('slowStartWeight', () => {
  it('ramps linearly from minShare * weight to weight', () => {
    assert.equal(slowStartWeight(10, 0, 1_000), 1)
    assert.equal(slowStartWeight(10, 500, 1_000), 5.5)
    assert.equal(slowStartWeight(10, 1_000, 1_000), 10)
    assert.equal(slowStartWeight(100, 250, 1_000, 0.2), 40)
    assert.equal(slowStartWeight(100, 0, 1_000, 0), 0)
  })

  it('returns the weight when the window is 0 or elapsed', () => {
    assert.equal(slowStartWeight(7, 0, 0), 7)
    assert.equal(slowStartWeight(7, 10, -5), 7)
    assert.equal(slowStartWeight(7, 5_000, 1_000), 7)
  })

  it('edges: negative elapsed time, out-of-range minShare, zero weight', () => {
    assert.equal(slowStartWeight(10, -100, 1_000), 1)
    assert.equal(slowStartWeight(10, 0, 1_000, 5), 10)
    assert.equal(slowStartWeight(10, 0, 1_000, -1), 0)
    assert.equal(slowStartWeight(0, 500, 1_000), 0)
  })

  it('never decreases over the window', () => {
    let last = 0
    for (let t = 0; t <= 1_200; t += 10) {
      const w = slowStartWeight(3, t, 1_000)
      assert.ok(w >= last)
      last = w
    }
    assert.equal(last, 3)
  })
})

describe('isRamping', () => {
  it('is true only inside a positive window', () => {
    assert.equal(isRamping(0, 1_000), true)
    assert.equal(isRamping(999, 1_000), true)
    assert.equal(isRamping(1_000, 1_000), false)
    assert.equal(isRamping(0, 0), false)
  })
})
