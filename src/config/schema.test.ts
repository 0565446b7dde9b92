import { test } from 'node:test'
import assert from 'node:assert/strict'
import { configFileSchema } from './schema.js'
import { formatIssues } from './issues.js'
import { crossCheck } from './cross-check.js'
import { configJsonSchema } from './json-schema.js'

const backends = [{ url: 'http://127.0.0.1:3001' }]

/** Problems of a document, as loadConfig would print them (file label `f`). */
function problems(doc: Record<string, unknown>): string[] {
  const r = configFileSchema.safeParse(doc)
  const out = r.success ? [] : formatIssues(r.error.issues, doc, 'f')
  return out.concat(crossCheck(doc).map((p) => `f: ${p.path.map(String).join('.')}: ${p.message}`))
}

function parse(doc: Record<string, unknown>) {
  const r = configFileSchema.safeParse(doc)
  assert.ok(r.success, JSON.stringify(r.error?.issues))
  return r.data
}

test('backends accept { url } and { host, port }, ids default to host:port', () => {
  const c = parse({ pools: { p: { backends: [{ url: 'http://a.example:81' }, { url: 'http://b' }, { host: '::1', port: 3 }, { id: 'x', host: 'c', port: 4, weight: 0, backup: true, drained: true }] } } })
  assert.deepEqual(c.pools.p?.backends, [
    { id: 'a.example:81', url: 'http://a.example:81', weight: 1, backup: false, drained: false },
    { id: 'b:80', url: 'http://b', weight: 1, backup: false, drained: false },
    { id: '[::1]:3', url: 'http://[::1]:3', weight: 1, backup: false, drained: false },
    { id: 'x', url: 'http://c:4', weight: 0, backup: true, drained: true },
  ])
})

test('backend url problems', () => {
  assert.deepEqual(problems({ pools: { p: { backends: [{ url: 'http://a:1/api' }, { url: 'http://a:2', host: 'a', port: 2 }, {}, { url: 'http://u:p@a:3' }] } } }), [
    'f: pools.p.backends[0].url: expected a URL without a path or query (routes rewrite paths), got "http://a:1/api"',
    'f: pools.p.backends[1]: both url and host + port given: use one of them',
    'f: pools.p.backends[2].url: missing: expected an http:// or https:// URL (or host + port)',
    'f: pools.p.backends[3].url: expected a URL without credentials, got "http://u:p@a:3"',
  ])
})

test('durations, statuses, retry conditions and sticky sessions normalise', () => {
  const c = parse({
    pools: {
      p: {
        algorithm: 'consistent-hash',
        hashOn: 'header:X-User',
        backends,
        healthCheck: { interval: '1m', unhealthyInterval: 500, timeout: '1.5s', expectedStatuses: [200, '300-304', '2xx'] },
        retries: { on: ['reset', 503, 'status:500', '502', 429] },
        slowStart: '10s',
        stickySession: true,
      },
    },
  })
  const p = c.pools.p
  assert.ok(p)
  assert.deepEqual(p.hashOn, { kind: 'header', name: 'x-user' })
  assert.equal(p.healthCheck.intervalMs, 60_000)
  assert.equal(p.healthCheck.unhealthyIntervalMs, 500)
  assert.equal(p.healthCheck.timeoutMs, 1500)
  assert.deepEqual(p.healthCheck.expectedStatuses, [[200, 200], [300, 304], [200, 299]])
  assert.deepEqual(p.retries.on, ['reset', '503', 'status:500', '502', 'status:429'])
  assert.equal(p.slowStartMs, 10_000)
  // The secret is filled in at load (file, env LB_STICKY_SECRET or a per-process random key).
  assert.deepEqual(p.stickySession, { kind: 'cookie', cookie: 'lb_sticky', ttlMs: 3_600_000, secret: '' })
  const sticky = (s: unknown) => parse({ pools: { p: { backends, stickySession: s } } }).pools.p?.stickySession
  assert.deepEqual(sticky({ cookie: 'sid', ttl: '10m', secret: 'x'.repeat(16) }), { kind: 'cookie', cookie: 'sid', ttlMs: 600_000, secret: 'x'.repeat(16) })
  assert.deepEqual(sticky({}), { kind: 'cookie', cookie: 'lb_sticky', ttlMs: 3_600_000, secret: '' })
  assert.deepEqual(sticky({ header: 'X-Session' }), { kind: 'header', header: 'x-session' })
  assert.deepEqual(parse({ pools: { p: { algorithm: 'consistent-hash', hashOn: 'cookie:sid', backends } } }).pools.p?.hashOn, { kind: 'cookie', name: 'sid' })
})

test('routes normalise: names, hosts, methods, headers, rate limits', () => {
  const c = parse({
    pools: { api: { backends } },
    routes: [
      { name: 'first', match: { host: 'API.Example.com', methods: ['get'], headers: { 'X-Canary': '1' } }, pool: 'api', rateLimit: { rate: '6000/m', key: 'header:X-Key' } },
      { pool: 'api', rewrite: { stripPrefix: '/v1', replacePath: { pattern: '^/a', replacement: '/b' } }, requestHeaders: { set: { a: '1' }, remove: ['X-Debug'] }, rateLimit: { rate: 0.5, scope: 'local' } },
    ],
  })
  assert.deepEqual(c.routes[0], {
    name: 'first',
    match: { hosts: ['api.example.com'], pathPrefix: undefined, pathRegex: undefined, methods: ['GET'], headers: { 'x-canary': '1' } },
    pool: 'api',
    requestHeaders: { set: {}, add: {}, remove: [] },
    responseHeaders: { set: {}, add: {}, remove: [] },
    rateLimit: { ratePerSecond: 100, burst: 100, key: { kind: 'header', name: 'x-key' }, scope: 'global' },
  })
  const second = c.routes[1]
  assert.equal(second?.name, 'route-1')
  assert.deepEqual(second?.rewrite, { stripPrefix: '/v1', replacePath: { pattern: '^/a', replacement: '/b' } })
  assert.deepEqual(second?.requestHeaders, { set: { a: '1' }, add: {}, remove: ['x-debug'] })
  assert.deepEqual(second?.rateLimit, { ratePerSecond: 0.5, burst: 1, key: { kind: 'ip' }, scope: 'local' })
})

test('state: memory, redis url, sentinels, cluster', () => {
  assert.deepEqual(parse({ pools: { p: { backends } } }).state, { kind: 'memory' })
  assert.deepEqual(parse({ state: { redis: { sentinels: ['s1:26379', { host: 's2', port: 26379 }], name: 'mymaster' } }, pools: { p: { backends } } }).state, {
    kind: 'redis', url: undefined, sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], sentinelName: 'mymaster', cluster: undefined, keyPrefix: 'lb:',
  })
  assert.deepEqual(problems({ state: { redis: { sentinels: ['s1:26379'] } }, pools: { p: { backends } } }), ['f: state.redis.name: missing: expected the Sentinel master name (with sentinels)'])
  assert.deepEqual(problems({ state: { redis: { url: 'redis://a', cluster: ['b:1'] } }, pools: { p: { backends } } }), ['f: state.redis: expected exactly one of url, sentinels (+ name) or cluster, got several'])
  assert.deepEqual(problems({ state: 'redis', pools: { p: { backends } } }), ['f: state: expected "memory" or { redis: { url | sentinels + name | cluster } }, got "redis"'])
})

test('unknown keys are errors with a suggestion when one is close', () => {
  assert.deepEqual(problems({ listen: { prot: 1 }, pools: { p: { backends, helthCheck: {}, zzzzzz: 1 } } }), [
    'f: listen.prot: unknown key (did you mean "port"?)',
    'f: pools.p.helthCheck: unknown key (did you mean "healthCheck"?)',
    'f: pools.p.zzzzzz: unknown key',
  ])
})

test('cross-field rules: hashOn without consistent-hash, port clashes, explicit duplicate ids', () => {
  assert.deepEqual(problems({ listen: { port: 9901 }, tls: { port: 9901, certificates: [{ cert: 'a', key: 'b' }] }, pools: { p: { hashOn: 'ip', backends: [{ id: 'a', url: 'http://x:1' }, { id: 'a', url: 'http://x:2' }] } } }), [
    'f: pools.p.backends.1.id: duplicate endpoint id "a" (same as backends[0]): expected ids unique within the pool (set id to tell them apart)',
    'f: pools.p.hashOn: hashOn is only used by algorithm consistent-hash (this pool uses "round-robin"): remove it or set algorithm: consistent-hash',
    'f: admin.port: expected a port other than the listener\'s (9901)',
    'f: tls.port: expected a port other than the listener\'s and the admin server\'s, got 9901',
  ])
})

test('limits and sizes, workers auto, trusted proxies', () => {
  const c = parse({ workers: 'auto', limits: { maxHeaderSize: '32KiB', maxBodySize: '10MB', maxUrlLength: 4096, headerTimeout: '5s' }, trustedProxies: ['10.0.0.0/8', '::1'], pools: { p: { backends } } })
  assert.ok(c.workers >= 1)
  assert.equal(c.limits.maxHeaderBytes, 32_768)
  assert.equal(c.limits.maxBodyBytes, 10_000_000)
  assert.equal(c.limits.maxUrlBytes, 4096)
  assert.equal(c.limits.headerTimeoutMs, 5000)
  assert.deepEqual(problems({ trustedProxies: ['10.0.0.0/40', 'proxy'], pools: { p: { backends } } }), [
    'f: trustedProxies[0]: expected an IP address or CIDR block such as 10.0.0.0/8, got "10.0.0.0/40"',
    'f: trustedProxies[1]: expected an IP address or CIDR block such as 10.0.0.0/8, got "proxy"',
  ])
})

test('the JSON schema carries $schema, $id, title, descriptions and defaults', () => {
  const s = configJsonSchema() as { $schema: string; $id: string; title: string; required?: string[]; properties: Record<string, { description?: string }>; additionalProperties: unknown }
  assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema')
  assert.equal(s.$id, 'urn:lb:lb.config.schema.json')
  assert.equal(s.title, 'lb configuration')
  assert.equal(s.additionalProperties, false)
  assert.deepEqual(s.required, ['pools'])
  for (const key of ['listen', 'workers', 'state', 'admin', 'log', 'limits', 'pools', 'routes', 'drainTimeout']) {
    assert.ok((s.properties[key]?.description ?? '').length > 0, `${key} has a description`)
  }
  const text = JSON.stringify(s)
  assert.match(text, /"default":"5s"/)
  assert.match(text, /"default":"16KiB"/)
})

test('route header values may not carry control characters (a CR LF would split the message)', () => {
  const doc = { pools: { p: { backends } }, routes: [{ pool: 'p', responseHeaders: { set: { 'x-a': 'ok\r\nx-injected: 1' } }, requestHeaders: { add: { 'x-b': 'tab\tand spaces ok' } } }] }
  const out = problems(doc)
  assert.equal(out.length, 1, out.join('\n'))
  assert.match(out[0] ?? '', /^f: routes\[0\]\.responseHeaders\.set\.x-a: expected a header value without control characters/)
})

test('pool protocol: http1 by default, h2c with http:// backends, a wrong value or scheme named with its path', () => {
  assert.equal(parse({ pools: { p: { backends } } }).pools.p?.protocol, 'http1')
  assert.equal(parse({ listen: { h2c: true }, pools: { p: { protocol: 'h2c', backends } } }).pools.p?.protocol, 'h2c')
  assert.equal(parse({ listen: { h2c: true }, pools: { p: { backends } } }).listen.h2c, true)
  assert.deepEqual(problems({ listen: { h2c: 'yes' }, pools: { p: { protocol: 'http2', backends }, q: { protocol: 'h2', backends } } }), [
    'f: listen.h2c: expected true or false, got "yes"',
    'f: pools.p.protocol: expected one of http1, h2c, h2, got "http2"',
    'f: pools.q.backends.0.url: protocol h2 needs https:// backend URLs (HTTP/2 over TLS), got "http://127.0.0.1:3001"',
  ])
})
