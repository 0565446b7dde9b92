import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isFastPathEnabled } from './fast-path.js'

test('the fast path is opt-in: off unless LB_FAST_PATH says on', () => {
  assert.equal(isFastPathEnabled({}), false, 'off by default')
  for (const v of ['on', 'ON', '1', 'true', 'yes', ' on ']) assert.equal(isFastPathEnabled({ LB_FAST_PATH: v }), true, v)
  for (const v of ['off', '0', 'false', 'no', '', 'maybe']) assert.equal(isFastPathEnabled({ LB_FAST_PATH: v }), false, v)
})
