import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ERROR_CODES, LbError, isLbError } from './errors.js'

test('every error code is documented in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const missing = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``))
  assert.deepEqual(missing, [])
})

test('docs/errors.md lists no code the balancer does not have', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const listed = new Set(doc.match(/`LB_ERR_[A-Z_]+`/g)?.map((c) => c.slice(1, -1)) ?? [])
  assert.deepEqual([...listed].filter((code) => !(code in ERROR_CODES)), [])
})

test('LbError carries code, source, retryable and cause', () => {
  const cause = new Error('ECONNREFUSED')
  const err = new LbError('LB_ERR_CONNECT', undefined, { cause })
  assert.equal(err.code, 'LB_ERR_CONNECT')
  assert.equal(err.source, 'upstream')
  assert.equal(err.retryable, true)
  assert.equal(err.cause, cause)
  assert.equal(err.message, 'could not connect to backend')
  assert.ok(isLbError(err, 'LB_ERR_CONNECT'))
  assert.ok(!isLbError(err, 'LB_ERR_RESET'))
  assert.ok(!isLbError(new Error('x')))
})
