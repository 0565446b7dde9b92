import { test } from 'node:test'
import assert from 'node:assert/strict'
import { closest, didYouMean, formatPath, show, valueAt } from './issues.js'
import { findJsonError } from './json-position.js'

test('formatPath renders keys and indexes', () => {
  assert.equal(formatPath(['pools', 'api', 'backends', 1, 'url']), 'pools.api.backends[1].url')
  assert.equal(formatPath(['pools', 'my-pool']), 'pools.my-pool')
  assert.equal(formatPath(['match', 'headers', 'a b']), 'match.headers["a b"]')
  assert.equal(formatPath([]), '(root)')
})

test('show quotes strings and names containers', () => {
  assert.equal(show('ftp://x'), '"ftp://x"')
  assert.equal(show(3), '3')
  assert.equal(show(undefined), 'nothing')
  assert.equal(show([]), 'an empty list')
  assert.equal(show([1, 2]), 'a list of 2')
  assert.equal(show({}), 'an empty mapping')
  assert.equal(show('x'.repeat(100)).length, 62)
})

test('closest suggests typos only', () => {
  assert.equal(closest('helthCheck', ['healthCheck', 'backends']), 'healthCheck')
  assert.equal(closest('prot', ['port', 'host']), 'port')
  assert.equal(closest('healthcheck', ['healthCheck']), 'healthCheck')
  assert.equal(closest('zzzz', ['port', 'host']), undefined)
  assert.equal(didYouMean('p2', ['p2c', 'ewma']), ' (did you mean "p2c"?)')
  assert.equal(didYouMean(3, ['p2c']), '')
})

test('valueAt walks objects and arrays', () => {
  assert.equal(valueAt({ a: [{ b: 1 }] }, ['a', 0, 'b']), 1)
  assert.equal(valueAt({ a: 1 }, ['a', 'b']), undefined)
})

test('findJsonError locates the first syntax error', () => {
  assert.equal(findJsonError('{"a": [1, 2, {"b": null}], "c": "d"}'), undefined)
  assert.deepEqual(findJsonError('{"a": [1,]}'), { offset: 9, message: 'expected a value, got "]"' })
  assert.deepEqual(findJsonError('{"a": 1 "b": 2}'), { offset: 8, message: 'expected "," or "}", got "\\""' })
  assert.deepEqual(findJsonError('{"a": '), { offset: 6, message: 'expected a value, got the end of the file' })
  assert.deepEqual(findJsonError('{} x'), { offset: 3, message: 'expected the end of the file, got "x"' })
  assert.deepEqual(findJsonError("{'a': 1}"), { offset: 1, message: 'expected a quoted property name, got "\'"' })
})
