import { test } from 'node:test'
import assert from 'node:assert/strict'
import { forwardTargetFor, matchPathFor, normalizePath, resolveTarget } from './path-normalize.js'

test('normalizePath: dot-segments, unreserved escapes, backslashes, merged slashes', () => {
  const cases: Array<[string, string]> = [
    ['/', '/'],
    ['/login', '/login'],
    ['//login', '/login'],
    ['/./login', '/login'],
    ['/%6Cogin', '/login'],
    ['/%6cogin', '/login'],
    ['/a/b/../c', '/a/c'],
    ['/../../login', '/login'],
    ['/a/..', '/'],
    ['/a/.', '/a/'],
    ['/a/b/', '/a/b/'],
    ['/a//../b', '/a/b'],
    ['/a/%2e%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/a\\b', '/a/b'],
    ['/a\\..\\b', '/b'],
    ['/%7euser/%41', '/~user/A'],
    ['/a%20b', '/a%20b'],
    ['/a%3ab', '/a%3Ab'],
    ['/100%', '/100%'],
    ['/%zz/%4', '/%zz/%4'],
    ['/app.js', '/app.js'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a/...', '/a/...'],
    ['/a/..b', '/a/..b'],
    ['///', '/'],
    ['*', '*'],
  ]
  for (const [input, expected] of cases) assert.equal(normalizePath(input), expected, JSON.stringify(input))
})

test('normalizePath returns the same string, unrebuilt, for a path with nothing to change', () => {
  for (const p of ['/', '/api/v1/users/42', '/static/app.min.js', '/.env', '/a-b_c~d']) {
    assert.equal(normalizePath(p), p)
  }
})

test('encoded slashes: refused unless allowed, in every mode; allowed ones are kept encoded', () => {
  for (const p of ['/a%2Fb', '/a%2fb', '/a%5Cb', '/a%5cb', '/%2F']) {
    assert.equal(normalizePath(p), undefined, p)
    assert.equal(matchPathFor(p, { mode: 'off', allowEncodedSlashes: false }), undefined, p)
    assert.equal(resolveTarget(`${p}?q`, { mode: 'match-only', allowEncodedSlashes: false }), undefined, p)
  }
  assert.equal(normalizePath('/a%2fb/./c', true), '/a%2Fb/c')
  assert.equal(matchPathFor('/a%2Fb', { mode: 'off', allowEncodedSlashes: true }), '/a%2Fb')
})

test('modes: match-only forwards the target as sent, forward sends the normalized path with the query, off matches raw', () => {
  const url = '//a/./b?x=/../y'
  const raw = '//a/./b'
  assert.equal(matchPathFor(raw, { mode: 'off', allowEncodedSlashes: false }), raw)
  const norm = matchPathFor(raw, { mode: 'match-only', allowEncodedSlashes: false }) as string
  assert.equal(norm, '/a/b')
  assert.equal(forwardTargetFor(url, raw, norm, { mode: 'match-only', allowEncodedSlashes: false }), url)
  assert.equal(forwardTargetFor(url, raw, norm, { mode: 'forward', allowEncodedSlashes: false }), '/a/b?x=/../y')
  assert.deepEqual(resolveTarget(url, { mode: 'forward', allowEncodedSlashes: false }), { path: '/a/b', target: '/a/b?x=/../y', rewriteTarget: '/a/b?x=/../y' })
  assert.deepEqual(resolveTarget(url, { mode: 'match-only', allowEncodedSlashes: false }), { path: '/a/b', target: url, rewriteTarget: '/a/b?x=/../y' })
})

// ---- differential test against a literal reading of RFC 3986 -------------------------------------

/** RFC 3986 5.2.4, written as the RFC states it (string buffers, rules A-E). */
function referenceRemoveDotSegments(input: string): string {
  let inp = input
  let out = ''
  while (inp.length > 0) {
    if (inp.startsWith('../')) inp = inp.slice(3)
    else if (inp.startsWith('./')) inp = inp.slice(2)
    else if (inp.startsWith('/./')) inp = `/${inp.slice(3)}`
    else if (inp === '/.') inp = '/'
    else if (inp.startsWith('/../') || inp === '/..') {
      inp = `/${inp.slice(inp === '/..' ? 3 : 4)}`
      const cut = out.lastIndexOf('/')
      out = cut === -1 ? '' : out.slice(0, cut)
    } else if (inp === '.' || inp === '..') inp = ''
    else {
      const next = inp.indexOf('/', inp.startsWith('/') ? 1 : 0)
      const seg = next === -1 ? inp : inp.slice(0, next)
      out += seg
      inp = inp.slice(seg.length)
    }
  }
  return out
}

/** decode unreserved escapes (upper-case the rest), `\` -> `/`, remove dot segments, merge slashes. */
function reference(path: string, allow: boolean): string | undefined {
  if (!path.startsWith('/')) return path
  if (!allow && /%(2f|5c)/i.test(path)) return undefined
  const decoded = path.replace(/\\/g, '/').replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16))
    return /[A-Za-z0-9\-._~]/.test(ch) ? ch : `%${hex.toUpperCase()}`
  })
  return referenceRemoveDotSegments(decoded).replace(/\/+/g, '/') || '/'
}

/** mulberry32: a small seeded generator, so a failure replays. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const PIECES = ['/', '/', '//', '.', '..', '/./', '/../', 'a', 'b', 'login', '%2e', '%2E', '%6c', '%6C', '%2f', '%5c', '%20', '%3a', '%', '%z', '%4', '\\', '...', '-', '~', '%7E', 'x.y', '%41']

test('differential: 20 000 seeded random paths agree with a literal RFC 3986 reference', () => {
  const random = seeded(12)
  for (let n = 0; n < 20_000; n++) {
    let p = '/'
    const len = Math.floor(random() * 10)
    for (let i = 0; i < len; i++) p += PIECES[Math.floor(random() * PIECES.length)] as string
    const allow = random() < 0.3
    assert.equal(normalizePath(p, allow), reference(p, allow), `path ${JSON.stringify(p)} allow=${allow}`)
    // Idempotent, except where decoding made a new escape (`%4%41` -> `%4A`): one decoding pass, as Envoy.
    const once = normalizePath(p, true)
    if (once !== undefined && !once.includes('%')) assert.equal(normalizePath(once, true), once, `idempotent on ${JSON.stringify(p)}`)
  }
})
