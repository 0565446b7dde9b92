import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyRequestHeaders, copyResponseHeaders, knownName } from './headers.js'

const bytes = (list: string[]): Buffer[] => list.map((s) => Buffer.from(s, 'latin1'))

test('knownName folds ASCII case only, for the names the rules act on', () => {
  assert.equal(knownName('Transfer-Encoding'), 'transfer-encoding')
  assert.equal(knownName('HOST'), 'host')
  assert.equal(knownName('X-Request-ID'), 'x-request-id')
  assert.equal(knownName('Hosu'), undefined)
  assert.equal(knownName('User-Agent'), undefined)
  assert.equal(knownName('Content_Length'), undefined, 'underscore is not a hyphen')
  assert.equal(knownName(''), undefined)
})

test('response: hop-by-hop fields and the ones Connection names are dropped, any case; others keep case and order', () => {
  const out = copyResponseHeaders(
    bytes(['Content-Type', 'text/plain', 'CONNECTION', 'Keep-Alive, X-Secret', 'keep-alive', 'timeout=5', 'X-Secret', 's', 'Transfer-Encoding', 'chunked', 'x-other', '1', 'Upgrade', 'h2c']),
    undefined,
  )
  assert.deepEqual(out, ['Content-Type', 'text/plain', 'x-other', '1'])
})

test('response: a plain Connection value names nothing; route removals apply to any name', () => {
  const out = copyResponseHeaders(bytes(['Connection', 'Keep-Alive', 'Server', 'x', 'Date', 'd', 'X-Powered-By', 'p']), new Set(['server', 'x-powered-by']))
  assert.deepEqual(out, ['Date', 'd'])
})

test('request: framing and own headers are not copied but reported; Connection-named fields are dropped', () => {
  const out: string[] = []
  const facts = copyRequestHeaders(
    ['Host', 'a.example', 'content-LENGTH', '5', 'X-Forwarded-For', '10.0.0.1', 'X-Request-Id', 'abc-1', 'Connection', 'X-Custom', 'X-Custom', 'v', 'Idempotency-Key', 'k', 'Accept', '*/*', 'X-LB-Debug', 't'],
    out,
    undefined,
  )
  assert.deepEqual(out, ['Host', 'a.example', 'Idempotency-Key', 'k', 'Accept', '*/*'])
  assert.equal(facts.host, 'a.example')
  assert.equal(facts.contentLength, 5)
  assert.equal(facts.forwardedFor, '10.0.0.1')
  assert.equal(facts.requestId, 'abc-1')
  assert.equal(facts.idempotencyKey, true)
  assert.equal(facts.debug, 't')
})

test('request: route removals match any case; an upgrade keeps Upgrade and gets its own Connection', () => {
  const out: string[] = []
  copyRequestHeaders(['Cookie', 'c', 'Upgrade', 'websocket', 'Connection', 'Upgrade', 'Accept', 'x'], out, new Set(['cookie']), true)
  assert.deepEqual(out, ['Upgrade', 'websocket', 'Accept', 'x', 'connection', 'upgrade'])
})
