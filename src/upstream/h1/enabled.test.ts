import { test } from 'node:test'
import assert from 'node:assert/strict'
import { describeUpstreamHttp1, isFastPathEnabled } from './enabled.js'

test('the fast path is on unless LB_FAST_PATH says off', () => {
  assert.equal(isFastPathEnabled({}), true, 'on by default')
  for (const v of ['on', 'ON', '1', 'true', 'yes', ' on ', '']) assert.equal(isFastPathEnabled({ LB_FAST_PATH: v }), true, v)
  for (const v of ['off', 'OFF', '0', 'false', 'no', ' off ']) assert.equal(isFastPathEnabled({ LB_FAST_PATH: v }), false, v)
})

test('the start-up line names what carries HTTP/1.1 upstream', () => {
  assert.match(describeUpstreamHttp1({}), /^lb: upstream HTTP\/1\.1: own connections/)
  assert.equal(describeUpstreamHttp1({ LB_FAST_PATH: 'off' }), 'lb: upstream HTTP/1.1: undici (LB_FAST_PATH=off)')
})
