import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatRateLimitPolicy, rateLimitHeaders } from './headers.js'
import { rateLimitKey } from './rate-limit-key.js'

const POLICY = { ratePerSecond: 100, burst: 20 }

test('allowed: RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-10 syntax), no Retry-After', () => {
  const h = rateLimitHeaders({ allowed: true, limit: 20, remaining: 17, resetSeconds: 1, retryAfterSeconds: 0 }, 'api', POLICY)
  assert.deepEqual(h, ['ratelimit-policy', '"api";q=100;w=1;burst=20', 'ratelimit', '"api";r=17;t=1'])
})

test('refused: Retry-After at least 1', () => {
  const h = rateLimitHeaders({ allowed: false, limit: 20, remaining: 0, resetSeconds: 1, retryAfterSeconds: 0 }, 'api', POLICY)
  assert.deepEqual(h.slice(4), ['retry-after', '1'])
})

test('slow and fractional rates get a window that makes q whole; names are escaped', () => {
  assert.equal(formatRateLimitPolicy('a', { ratePerSecond: 0.5, burst: 1 }), '"a";q=30;w=60;burst=1')
  assert.equal(formatRateLimitPolicy('a', { ratePerSecond: 10_000 / 3_600, burst: 5 }), '"a";q=10000;w=3600;burst=5')
  assert.equal(formatRateLimitPolicy('we"ird\\é', POLICY), '"we\\"ird\\\\_";q=100;w=1;burst=20')
})

test('keys: ip, header (missing -> shared empty key), cookie, long values hashed', () => {
  const raw = ['Host', 'x', 'X-Api-Key', ' k1 ', 'Cookie', 'a=1; sid=abc']
  assert.equal(rateLimitKey({ kind: 'ip' }, raw, '203.0.113.7'), '203.0.113.7')
  assert.equal(rateLimitKey({ kind: 'header', name: 'x-api-key' }, raw, '1.2.3.4'), 'k1')
  assert.equal(rateLimitKey({ kind: 'header', name: 'x-missing' }, raw, '1.2.3.4'), '')
  assert.equal(rateLimitKey({ kind: 'cookie', name: 'sid' }, raw, '1.2.3.4'), 'abc')
  const long = rateLimitKey({ kind: 'header', name: 'x-long' }, ['x-long', 'v'.repeat(5_000)], '')
  assert.match(long, /^sha256:[A-Za-z0-9_-]{43}$/)
})
