import { test } from 'node:test'
import assert from 'node:assert/strict'
import { endsWithSingleChunked } from './request-guard.js'

test('endsWithSingleChunked: final chunked once, OWS is space and tab only, empty elements skipped', () => {
  for (const ok of ['chunked', 'CHUNKED', ' chunked\t', 'gzip, chunked', ',,chunked,', 'a    b, chunked', 'gzip,chunked , ']) {
    assert.equal(endsWithSingleChunked(ok), true, JSON.stringify(ok))
  }
  for (const bad of ['', 'gzip', 'chunked, gzip', 'chunked, chunked', '\xa0chunked', 'chunked\xa0', 'chunk ed', 'chunkedx', ',', 'xchunked']) {
    assert.equal(endsWithSingleChunked(bad), false, JSON.stringify(bad))
  }
})

test('endsWithSingleChunked is linear: a value padded with 100 000 spaces takes well under half a second', () => {
  const value = `a${' '.repeat(100_000)}b, chunked`
  const t0 = performance.now()
  assert.equal(endsWithSingleChunked(value), true)
  assert.ok(performance.now() - t0 < 500, `${performance.now() - t0} ms`)
})
