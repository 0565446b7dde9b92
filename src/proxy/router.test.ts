// The router's first-match order with many routes: the indexed lookup (host buckets, prefix buckets,
// scanned routes merged in order) must choose exactly the route a scan in configured order chooses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { RouteConfig, RouteMatch } from '../config/index.js'
import { ROUTE_INDEX_FROM, Router } from './router.js'
import { literalStart } from './route-index.js'

const EDITS = { set: {}, add: {}, remove: [] }
const route = (name: string, match: RouteMatch, pool = name): RouteConfig => ({ name, match, pool, requestHeaders: EDITS, responseHeaders: EDITS })
const pick = (r: Router, host: string, path: string, method = 'GET', raw: string[] = []): string | undefined => r.match(method, host, path, raw)?.name

/** 1 000 routes of every kind, where a few early general routes shadow later specific ones. */
function manyRoutes(): RouteConfig[] {
  const routes: RouteConfig[] = []
  routes.push(route('post-anything', { methods: ['POST'] }))
  routes.push(route('canary', { headers: { 'x-canary': '1' } }))
  for (let i = 0; i < 300; i++) routes.push(route(`prefix-${i}`, { pathPrefix: `/p${i}/` }))
  routes.push(route('wild', { hosts: ['*.wild.example'] }))
  for (let i = 0; i < 300; i++) routes.push(route(`host-${i}`, { hosts: [`h${i}.example`, `alias${i}.example`] }))
  routes.push(route('host-and-prefix', { hosts: ['h5.example'], pathPrefix: '/special/' }))
  for (let i = 0; i < 300; i++) routes.push(route(`regex-${i}`, { pathRegex: `^/x${i}/\\d+$` }))
  routes.push(route('short-prefix', { pathPrefix: '/p' }))
  routes.push(route('h5-late', { hosts: ['h5.example'] }))
  routes.push(route('catch-all', {}))
  return routes
}

test('with 1 000 routes the first matching route in configured order wins, for each kind of condition', () => {
  const r = new Router(manyRoutes(), undefined)
  assert.equal(pick(r, 'a', '/p299/x'), 'prefix-299')
  assert.equal(pick(r, 'h299.example', '/'), 'host-299')
  assert.equal(pick(r, 'ALIAS7.example:8080', '/'), 'host-7', 'host names are matched without case and port')
  assert.equal(pick(r, 'a', '/x299/42'), 'regex-299')
  // An earlier general route shadows every later specific one.
  assert.equal(pick(r, 'h3.example', '/p3/', 'POST'), 'post-anything')
  assert.equal(pick(r, 'h3.example', '/x3/1', 'GET', ['X-Canary', '1']), 'canary')
  // A prefix route before a host route wins for a request matching both.
  assert.equal(pick(r, 'h5.example', '/p9/a'), 'prefix-9')
  // The wildcard (scanned) sits between the prefix and host buckets.
  assert.equal(pick(r, 'a.wild.example', '/x1/1'), 'wild')
  assert.equal(pick(r, 'h5.example', '/special/a'), 'host-5', 'host-5 comes before host-and-prefix')
  assert.equal(pick(r, 'h5.example', '/p'), 'host-5')
  assert.equal(pick(r, 'other.example', '/p'), 'short-prefix')
  assert.equal(pick(r, 'other.example', '/p1'), 'short-prefix', '/p1 does not start with /p1/')
  assert.equal(pick(r, 'other.example', '/x1/a'), 'catch-all', 'the regex needs digits')
  assert.equal(pick(r, '', '/'), 'catch-all')
})

test('with many routes and no catch-all, a request no route matches gets none', () => {
  const routes = manyRoutes().filter((x) => x.name !== 'catch-all')
  const r = new Router(routes, 'ignored-when-routes-exist')
  assert.equal(pick(r, 'nowhere', '/nothing'), undefined)
  assert.equal(pick(r, 'h1.example', '/'), 'host-1')
})

const REGEXES = ['^/a/\\d', 'v1', '^/a/b?', '^/api|/b/', '^\\/api\\/v1', '^/a*', '^/a/.', '^/b/$', '^/api/v1/x', '^/(a|b)/', '^/a/[b1]']

/** A small deterministic generator, so a failure names a seed that reproduces it. */
function lcg(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

test('the indexed router and a scan in order choose the same route for random routes and requests', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = lcg(seed)
    const n = (k: number): number => Math.floor(rnd() * k)
    const hosts = ['a.example', 'b.example', 'c.example', 'x.a.example']
    const prefixes = ['/', '/a', '/a/', '/a/b', '/b/', '/api/', '/api/v1/']
    const routes: RouteConfig[] = []
    for (let i = 0; i < 60; i++) {
      const match: RouteMatch = {}
      if (rnd() < 0.4) match.hosts = rnd() < 0.2 ? ['*.a.example'] : [hosts[n(hosts.length)] as string]
      if (rnd() < 0.5) match.pathPrefix = prefixes[n(prefixes.length)]
      if (rnd() < 0.25) match.pathRegex = REGEXES[n(REGEXES.length)]
      if (rnd() < 0.1) match.methods = ['POST']
      if (rnd() < 0.1) match.headers = { 'x-k': '1' }
      routes.push(route(`r${i}`, match))
    }
    const indexed = new Router(routes, undefined, { indexFrom: 0 })
    const scanned = new Router(routes, undefined, { indexFrom: Infinity })
    const paths = ['/', '/a', '/a/', '/a/b', '/a/1', '/a/b/c', '/api/v1/x', '/api/', '/b/', '/c', '/v1', '/aaa', '/x/b/', '/api/v1/xy']
    for (const host of [...hosts, 'B.EXAMPLE:80', 'none', '']) {
      for (const path of paths) {
        for (const method of ['GET', 'POST']) {
          for (const raw of [[], ['X-K', '1']]) {
            assert.equal(pick(indexed, host, path, method, raw), pick(scanned, host, path, method, raw), `seed ${seed}: ${method} ${host} ${path} ${raw.join(':')}`)
          }
        }
      }
    }
  }
})

test(`the index is used from ${ROUTE_INDEX_FROM} routes on and gives the same answers below it`, () => {
  const routes = [route('api', { pathPrefix: '/api/' }), route('host', { hosts: ['h.example'] }), route('rest', {})]
  for (const indexFrom of [0, Infinity]) {
    const r = new Router(routes, undefined, { indexFrom })
    assert.equal(pick(r, 'h.example', '/api/x'), 'api')
    assert.equal(pick(r, 'h.example', '/x'), 'host')
    assert.equal(pick(r, 'z', '/x'), 'rest')
  }
})

test('the literal start of an anchored regex: only text every match begins with', () => {
  const cases: [string, string | undefined][] = [
    ['^/x1/[a-z0-9]+$', '/x1/'],
    ['^\\/api\\/v1', '/api/v1'],
    ['^/a/b?', '/a/'],
    ['^/ab*c', '/a'],
    ['^/a{2}', '/'],
    ['^/a+', '/a'],
    ['^/a\\d', '/a'],
    ['^/api|/b', undefined],
    ['/api', undefined],
    ['^(/a)', undefined],
    ['^.', undefined],
  ]
  for (const [source, want] of cases) assert.equal(literalStart(new RegExp(source)), want, source)
  assert.equal(literalStart(new RegExp('^/a', 'i')), undefined, 'a flag (case folding) disables it')
})
