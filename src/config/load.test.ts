import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { ConfigError, checkConfigFile, describeConfig, findConfigFile, loadConfig, loadConfigSync } from './index.js'
import { isLbError } from '../core/index.js'

/** A temp directory with the given files, removed after the test. */
function tempDir(t: TestContext, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-config-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  return dir
}

const MINIMAL = 'pools:\n  api:\n    backends:\n      - url: http://127.0.0.1:3001\n'

async function problemsOf(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.ok(isLbError(err, 'LB_ERR_CONFIG'))
    return err.problems
  }
  assert.fail('expected loadConfig to throw')
}

test('the probe timeout defaults to 2s or the interval when shorter (env interval included); a configured one is kept', async (t) => {
  const pools = 'pools:\n  a:\n    backends: [{ url: http://127.0.0.1:3001 }]\n    healthCheck: { interval: 1s }\n' +
    '  b:\n    backends: [{ url: http://127.0.0.1:3002 }]\n    healthCheck: { interval: 500ms, timeout: 3s }\n' +
    '  c:\n    backends: [{ url: http://127.0.0.1:3003 }]\n'
  const c = await loadConfig({ cwd: tempDir(t, { 'lb.config.yaml': pools }), env: {} })
  assert.equal(c.pools.a?.healthCheck.timeoutMs, 1000)
  assert.equal(c.pools.b?.healthCheck.timeoutMs, 3000)
  assert.equal(c.pools.c?.healthCheck.timeoutMs, 2000)
  const fromEnv = await loadConfig({ cwd: tempDir(t, { 'lb.config.yaml': MINIMAL }), env: { HEALTH_CHECK_INTERVAL: '700' } })
  assert.equal(fromEnv.pools.api?.healthCheck.timeoutMs, 700)
})

test('defaults fill everything the file leaves out', async (t) => {
  const cwd = tempDir(t, { 'lb.config.yaml': MINIMAL })
  const c = await loadConfig({ cwd, env: {} })
  assert.equal(c.source.kind, 'full')
  assert.equal(c.source.file, join(cwd, 'lb.config.yaml'))
  assert.deepEqual(c.listen, { host: '0.0.0.0', port: 8080, normalizePath: 'match-only', allowEncodedSlashes: false, h2c: false, reusePort: false })
  assert.ok(c.workers >= 1)
  assert.deepEqual(c.state, { kind: 'memory' })
  assert.deepEqual(c.admin, { host: '127.0.0.1', port: 9901, allowedHosts: [] })
  assert.deepEqual(c.log, { level: 'info', accessLog: true, format: 'json', metrics: true })
  assert.deepEqual(c.limits, { headerTimeoutMs: 10_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 5000, sendTimeoutMs: 60_000, maxHeaderBytes: 16_384, maxHeaderCount: 100, maxUrlBytes: 8192, maxBodyBytes: undefined })
  assert.equal(c.drainTimeoutMs, 30_000)
  assert.equal(c.via, false)
  assert.deepEqual(c.trustedProxies, [])
  assert.deepEqual(c.routes, [])
  const pool = c.pools.api
  assert.ok(pool)
  assert.equal(pool.name, 'api')
  assert.equal(pool.algorithm, 'round-robin')
  assert.deepEqual(pool.hashOn, { kind: 'ip' })
  assert.deepEqual(pool.backends, [{ id: '127.0.0.1:3001', url: 'http://127.0.0.1:3001', weight: 1, backup: false, drained: false }])
  assert.deepEqual(pool.healthCheck, { enabled: true, path: '/', method: 'GET', intervalMs: 5000, unhealthyIntervalMs: 5000, timeoutMs: 2000, expectedStatuses: [[100, 499]], healthyThreshold: 2, unhealthyThreshold: 3, jitter: 0.1 })
  assert.deepEqual(pool.outlierDetection, { enabled: true, consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectedPercent: 50 })
  assert.deepEqual(pool.circuitBreaker, { maxConnections: 0, maxPending: 0, maxRequests: 0, errorRatePercent: 50, minRequests: 20, windowMs: 10_000, openMs: 5000, halfOpenRequests: 3 })
  assert.deepEqual(pool.retries, { attempts: 3, on: ['connect-failure', 'reset', 'timeout', '502', '503', '504'], budgetPercent: 20, minRetriesPerSecond: 10, perTryTimeoutMs: 0, backoffBaseMs: 25, backoffMaxMs: 250 })
  assert.deepEqual(pool.timeouts, { connectMs: 3000, headersMs: 30_000, idleMs: 4000, bodyMs: 60_000, tunnelIdleMs: 3_600_000 })
  assert.equal(pool.slowStartMs, 0)
  assert.equal(pool.panicThresholdPercent, 0)
  assert.equal(pool.stickySession, undefined)
  assert.equal(pool.maxConnectionsPerEndpoint, 256)
  assert.equal(pool.protocol, 'http1')
})

test('the seed config/backends.json becomes pool "default", round robin, no routes', async (t) => {
  const cwd = tempDir(t, { 'config/backends.json': '{ "backends": [{ "host": "127.0.0.1", "port": 3001 }, { "host": "127.0.0.1", "port": 3002 }] }' })
  const c = await loadConfig({ cwd, env: {} })
  assert.equal(c.source.kind, 'seed')
  assert.deepEqual(Object.keys(c.pools), ['default'])
  assert.equal(c.pools.default?.algorithm, 'round-robin')
  assert.deepEqual(c.pools.default?.backends.map((b) => [b.id, b.url]), [['127.0.0.1:3001', 'http://127.0.0.1:3001'], ['127.0.0.1:3002', 'http://127.0.0.1:3002']])
  assert.deepEqual(c.routes, [])
})

test('seed problems name the seed paths', async (t) => {
  const cwd = tempDir(t, { 'config/backends.json': '{ "backends": [{ "host": "127.0.0.1" }], "algo": 1 }' })
  const problems = await problemsOf(loadConfig({ cwd, env: {} }))
  assert.deepEqual(problems.sort(), [
    'config/backends.json: algo: unknown key (the seed format has only "backends"; use lb.config.yaml for more)',
    'config/backends.json: backends[0].port: missing: expected a port with host',
  ])
})

test('discovery order: lb.config.yaml, .yml, .json, then config/backends.json', async (t) => {
  const seed = '{ "backends": [{ "host": "127.0.0.1", "port": 3001 }] }'
  const cwd = tempDir(t, { 'config/backends.json': seed, 'lb.config.json': JSON.stringify({ pools: { j: { backends: [{ url: 'http://a:1' }] } } }) })
  assert.equal(findConfigFile({ cwd, env: {} }), join(cwd, 'lb.config.json'))
  writeFileSync(join(cwd, 'lb.config.yml'), MINIMAL)
  assert.equal(findConfigFile({ cwd, env: {} }), join(cwd, 'lb.config.yml'))
  writeFileSync(join(cwd, 'lb.config.yaml'), MINIMAL)
  assert.equal(findConfigFile({ cwd, env: {} }), join(cwd, 'lb.config.yaml'))
  assert.equal(findConfigFile({ cwd, env: { LB_CONFIG: 'config/backends.json' } }), join(cwd, 'config/backends.json'))
  assert.equal(findConfigFile({ cwd, env: { LB_CONFIG: 'config/backends.json' }, flags: { config: 'lb.config.json' } }), join(cwd, 'lb.config.json'))
  assert.equal(findConfigFile({ cwd, env: {}, flags: { config: 'lb.config.json' }, file: 'x.yaml' }), join(cwd, 'x.yaml'))
  const c = await loadConfig({ cwd, env: { LB_CONFIG: 'lb.config.json' } })
  assert.deepEqual(Object.keys(c.pools), ['j'])
})

test('no file at all: one problem saying what to create', async (t) => {
  const cwd = tempDir(t, {})
  const problems = await problemsOf(loadConfig({ cwd, env: {} }))
  assert.equal(problems.length, 1)
  assert.match(problems[0] ?? '', /^no backends configured: create lb\.config\.yaml .* or config\/backends\.json/)
})

test('precedence: defaults < file < env < flags', async (t) => {
  const file = `listen: { port: 7000 }\nworkers: 3\nadmin: { port: 9000 }\nlog: { level: warn }\n${MINIMAL}    healthCheck: { interval: 1s, path: /file }\n`
  const cwd = tempDir(t, { 'lb.config.yaml': file })
  const fromFile = await loadConfig({ cwd, env: {} })
  assert.equal(fromFile.listen.port, 7000)
  assert.equal(fromFile.workers, 3)
  assert.equal(fromFile.pools.api?.healthCheck.intervalMs, 1000)
  assert.equal(fromFile.log.level, 'warn')

  const env = { PORT: '7100', WORKER_COUNT: '5', HEALTH_CHECK_INTERVAL: '2500', HEALTH_CHECK_PATH: '/env', ADMIN_HOST: 'localhost', ADMIN_PORT: '9100', LB_ADMIN_TOKEN: 'secret', LOG_LEVEL: 'DEBUG', REDIS_URL: 'redis://10.0.0.1:6379' }
  const fromEnv = await loadConfig({ cwd, env })
  assert.equal(fromEnv.listen.port, 7100)
  assert.equal(fromEnv.workers, 5)
  assert.equal(fromEnv.pools.api?.healthCheck.intervalMs, 2500)
  assert.equal(fromEnv.pools.api?.healthCheck.unhealthyIntervalMs, 2500)
  assert.equal(fromEnv.pools.api?.healthCheck.path, '/env')
  assert.deepEqual(fromEnv.admin, { host: 'localhost', port: 9100, token: 'secret', allowedHosts: [] })
  assert.equal(fromEnv.log.level, 'debug')
  assert.deepEqual(fromEnv.state, { kind: 'redis', url: 'redis://10.0.0.1:6379', sentinels: undefined, sentinelName: undefined, cluster: undefined, keyPrefix: 'lb:' })

  const fromFlags = await loadConfig({ cwd, env, flags: { port: 7200, workers: 7 } })
  assert.equal(fromFlags.listen.port, 7200)
  assert.equal(fromFlags.workers, 7)
  assert.equal(fromFlags.admin.port, 9100)
})

test('empty environment values count as unset', async (t) => {
  const cwd = tempDir(t, { 'lb.config.yaml': MINIMAL })
  const c = await loadConfig({ cwd, env: { PORT: '', REDIS_URL: '', LB_CONFIG: '' } })
  assert.equal(c.listen.port, 8080)
  assert.deepEqual(c.state, { kind: 'memory' })
})

test('invalid environment and flag values name the variable, all at once', async (t) => {
  const cwd = tempDir(t, { 'lb.config.yaml': MINIMAL })
  const env = { PORT: 'abc', WORKER_COUNT: '0', HEALTH_CHECK_INTERVAL: 'soon', HEALTH_CHECK_PATH: 'health', ADMIN_HOST: 'http://x', ADMIN_PORT: '99999', LOG_LEVEL: 'loud', REDIS_URL: 'http://redis' }
  const problems = await problemsOf(loadConfig({ cwd, env, flags: { port: -1 } }))
  assert.deepEqual(problems, [
    'env PORT: expected an integer 1-65535, got "abc"',
    'env REDIS_URL: expected a redis:// or rediss:// URL, got "http://redis"',
    'env WORKER_COUNT: expected an integer 1-1024, got "0"',
    'env HEALTH_CHECK_INTERVAL: expected a duration in ms above 0 (e.g. 5000 or 5s), got "soon"',
    'env HEALTH_CHECK_PATH: expected a path starting with /, got "health"',
    'env ADMIN_HOST: expected a host name or IP address, got "http://x"',
    'env ADMIN_PORT: expected an integer 1-65535, got "99999"',
    'env LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"',
    'flag --port: expected an integer 1-65535, got -1',
  ])
})

test('LB_ADMIN_TOKEN satisfies the non-loopback admin rule; without it the file is rejected', async (t) => {
  const cwd = tempDir(t, { 'lb.config.yaml': `admin: { host: 0.0.0.0 }\n${MINIMAL}` })
  const problems = await problemsOf(loadConfig({ cwd, env: {} }))
  assert.equal(problems.length, 1)
  assert.match(problems[0] ?? '', /^lb\.config\.yaml: admin\.host: admin server on "0\.0\.0\.0" is reachable beyond loopback, so it needs a token/)
  const c = await loadConfig({ cwd, env: { LB_ADMIN_TOKEN: 't0ken' } })
  assert.equal(c.admin.token, 't0ken')
  const viaEnv = await problemsOf(loadConfig({ cwd: tempDir(t, { 'lb.config.yaml': MINIMAL }), env: { ADMIN_HOST: '10.1.2.3' } }))
  assert.match(viaEnv[0] ?? '', /admin\.host: admin server on "10\.1\.2\.3"/)
})

test('every problem of a file is reported at once, in the documented format', async (t) => {
  const cwd = tempDir(t, {
    'lb.config.yaml': [
      'listen: { port: 0 }',
      'pools:',
      '  api:',
      '    algorithm: p2',
      '    backends:',
      '      - url: http://127.0.0.1:3001',
      '      - url: ftp://x',
      '      - url: http://127.0.0.1:3001',
      '    retries: { backoffBase: 1s, backoffMax: 100ms }',
      'routes:',
      '  - pool: ap',
      '    match: { pathRegex: "(" }',
      '',
    ].join('\n'),
  })
  const problems = await problemsOf(loadConfig({ cwd, env: {} }))
  assert.deepEqual(problems, [
    'lb.config.yaml: listen.port: expected an integer port 1-65535, got 0',
    'lb.config.yaml: pools.api.algorithm: expected one of round-robin, weighted-round-robin, least-connections, p2c, ewma, consistent-hash, random, got "p2" (did you mean "p2c"?)',
    'lb.config.yaml: pools.api.backends[1].url: expected an http:// or https:// URL, got "ftp://x"',
    'lb.config.yaml: routes[0].match.pathRegex: expected a valid regular expression, got "(" (Invalid regular expression: /(/: Unterminated group)',
    'lb.config.yaml: pools.api.backends[2].url: duplicate endpoint id "127.0.0.1:3001" (same as backends[0]): expected ids unique within the pool (set id to tell them apart)',
    'lb.config.yaml: pools.api.retries.backoffBase: expected backoffBase <= backoffMax ("1s" > "100ms")',
    'lb.config.yaml: routes[0].pool: expected the name of a pool (api), got "ap" (did you mean "api"?)',
  ])
})

test('YAML and JSON syntax errors name the file, line and column', async (t) => {
  const cwd = tempDir(t, { 'bad.yaml': 'pools:\n  api:\n    backends: [\n', 'bad.json': '{\n  "pools": {,}\n}' })
  const yaml = await problemsOf(loadConfig({ cwd, env: {}, file: 'bad.yaml' }))
  assert.equal(yaml.length >= 1, true)
  assert.match(yaml[0] ?? '', /^bad\.yaml: line \d+, column \d+: invalid YAML: /)
  const json = await problemsOf(loadConfig({ cwd, env: {}, file: 'bad.json' }))
  assert.deepEqual(json, ['bad.json: line 2, column 13: invalid JSON: expected a quoted property name, got ","'])
})

test('an unreadable or empty file is a problem, not a crash', async (t) => {
  const cwd = tempDir(t, { 'empty.yaml': '' })
  assert.deepEqual(await problemsOf(loadConfig({ cwd, env: {}, file: 'missing.yaml' })), ['missing.yaml: cannot read the configuration: file not found'])
  assert.deepEqual(await problemsOf(loadConfig({ cwd, env: {}, file: 'empty.yaml' })), ['empty.yaml: (root): expected a mapping with pools (see examples/lb.config.yaml), got an empty file'])
})

test('checkConfigFile returns problems instead of throwing', async (t) => {
  const cwd = tempDir(t, { 'ok.yaml': MINIMAL, 'bad.yaml': `${MINIMAL}    weight: 1\n` })
  assert.deepEqual(await checkConfigFile(join(cwd, 'ok.yaml'), { env: {} }), [])
  const problems = await checkConfigFile(join(cwd, 'bad.yaml'), { env: {}, cwd })
  assert.deepEqual(problems, ['bad.yaml: pools.api.weight: unknown key'])
})

test('tls certificate paths resolve relative to the config file; inline PEM is kept', async (t) => {
  const cwd = tempDir(t, { 'conf/lb.config.yaml': `tls:\n  certificates:\n    - { cert: certs/a.crt, key: "-----BEGIN PRIVATE KEY-----x" }\n${MINIMAL}` })
  const c = loadConfigSync({ cwd, env: {}, file: 'conf/lb.config.yaml' })
  assert.deepEqual(c.tls, { port: 8443, host: '0.0.0.0', http2: false, redirectHttp: false, minVersion: 'TLSv1.2', certificates: [{ cert: join(cwd, 'conf/certs/a.crt'), key: '-----BEGIN PRIVATE KEY-----x', serverNames: [] }] })
})

test('inline documents load without a file and are not modified', async () => {
  const inline = { pools: { demo: { backends: [{ url: 'http://127.0.0.1:3001' }] } } }
  const before = structuredClone(inline)
  const c = await loadConfig({ inline, env: { HEALTH_CHECK_INTERVAL: '1s' } })
  assert.deepEqual(inline, before)
  assert.equal(c.source.file, undefined)
  assert.equal(c.pools.demo?.healthCheck.intervalMs, 1000)
  const problems = await problemsOf(loadConfig({ inline: { pools: {} }, env: {} }))
  assert.deepEqual(problems, ['inline: pools: expected at least one pool, got an empty mapping'])
})

test('describeConfig summarises listeners, pools and routes', async (t) => {
  const cwd = tempDir(t, { 'lb.config.yaml': `state: { redis: { url: "redis://:pw@r:6379" } }\n${MINIMAL}        weight: 3\n      - { id: b, url: "http://10.0.0.2:2", backup: true }\nroutes:\n  - { pool: api }\n` })
  const text = describeConfig(await loadConfig({ cwd, env: {}, flags: { workers: 2 } }))
  assert.match(text, /listen: http:\/\/0\.0\.0\.0:8080; 2 workers/)
  assert.match(text, /state: redis redis:\/\/:\*\*\*@r:6379/)
  assert.match(text, /pool api: round-robin, 2 endpoints \[127\.0\.0\.1:3001 \(weight 3\), b \(backup\)\]; health GET \/ every 5s/)
  assert.match(text, /routes: route-0 -> api/)
  assert.doesNotMatch(text, /pw/)
})

test('sticky-session secret: the file, else env LB_STICKY_SECRET, else one random key per process', async () => {
  const pools = (sticky: unknown) => ({ pools: { a: { backends: [{ url: 'http://127.0.0.1:3001' }], stickySession: sticky }, b: { backends: [{ url: 'http://127.0.0.1:3002' }], stickySession: true } } })
  const secretOf = (c: Awaited<ReturnType<typeof loadConfig>>, pool: string) => {
    const s = c.pools[pool]?.stickySession
    return s?.kind === 'cookie' ? s.secret : undefined
  }
  const own = await loadConfig({ inline: pools({ secret: 'file-secret-0123456789' }), env: { LB_STICKY_SECRET: 'env-secret-0123456789' } })
  assert.equal(secretOf(own, 'a'), 'file-secret-0123456789')
  assert.equal(secretOf(own, 'b'), 'env-secret-0123456789')
  const first = await loadConfig({ inline: pools(true), env: {} })
  const again = await loadConfig({ inline: pools(true), env: {} })
  const random = secretOf(first, 'a') ?? ''
  assert.ok(random.length >= 32)
  // Reloads (and every pool) keep the process's key, so cookies stay valid.
  assert.equal(secretOf(first, 'b'), random)
  assert.equal(secretOf(again, 'a'), random)
  assert.deepEqual(await problemsOf(loadConfig({ inline: pools(true), env: { LB_STICKY_SECRET: 'short' } })), ['env LB_STICKY_SECRET: expected a secret of at least 16 characters, got 5'])
  assert.deepEqual(await problemsOf(loadConfig({ inline: pools({ secret: 'short' }), env: {} })), ['inline: pools.a.stickySession.secret: expected a secret of at least 16 characters, got "short"'])
})

test('upstreamTls: https urls (default id port 443), paths relative to the file, every file problem named by its field', async (t) => {
  const ca = readFileSync(new URL('../../examples/tls/internal-ca.pem', import.meta.url))
  const cert = readFileSync(new URL('../../examples/tls/lb-client.pem', import.meta.url))
  const key = readFileSync(new URL('../../examples/tls/lb-client-key.pem', import.meta.url))
  const dir = tempDir(t, { 'tls/ca.pem': ca.toString(), 'tls/client.pem': cert.toString(), 'tls/client-key.pem': key.toString(), 'tls/other-key.pem': generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'not-pem.txt': 'hello' })
  const write = (body: string): string => {
    writeFileSync(join(dir, 'lb.config.yaml'), body)
    return join(dir, 'lb.config.yaml')
  }
  const ok = await loadConfig({ file: write('pools:\n  api:\n    backends:\n      - url: https://api.internal\n    upstreamTls: { ca: tls/ca.pem, cert: tls/client.pem, key: tls/client-key.pem, serverName: api.internal }\n'), env: {}, cwd: dir })
  const pool = ok.pools.api
  assert.equal(pool?.backends[0]?.id, 'api.internal:443')
  assert.deepEqual(pool?.upstreamTls, { ca: join(dir, 'tls/ca.pem'), cert: join(dir, 'tls/client.pem'), key: join(dir, 'tls/client-key.pem'), serverName: 'api.internal', verify: true })
  assert.deepEqual(await problemsOf(loadConfig({ file: write('pools:\n  api:\n    backends: [{ url: "https://a:1" }]\n    upstreamTls: { cert: tls/client.pem }\n'), env: {}, cwd: dir })), [
    'lb.config.yaml: pools.api.upstreamTls.key: missing: expected cert and key together (client certificate for mTLS)',
  ])
  assert.deepEqual(await problemsOf(loadConfig({ file: write('pools:\n  api:\n    backends: [{ url: "https://a:1" }]\n    upstreamTls: { ca: tls/missing.pem }\n'), env: {}, cwd: dir })), [
    `lb.config.yaml: pools.api.upstreamTls.ca: cannot read ${join(dir, 'tls/missing.pem')} (ENOENT)`,
  ])
  const bad = await problemsOf(loadConfig({ file: write('pools:\n  api:\n    backends: [{ url: "https://a:1" }]\n    upstreamTls: { ca: not-pem.txt }\n'), env: {}, cwd: dir }))
  assert.equal(bad.length, 1)
  assert.deepEqual(bad, ['lb.config.yaml: pools.api.upstreamTls: ca: expected a PEM file with at least one certificate (-----BEGIN CERTIFICATE-----)'])
  const mismatch = await problemsOf(loadConfig({ file: write('pools:\n  api:\n    backends: [{ url: "https://a:1" }]\n    upstreamTls: { cert: tls/client.pem, key: tls/other-key.pem }\n'), env: {}, cwd: dir }))
  assert.equal(mismatch.length, 1)
  assert.match(mismatch[0] ?? '', /^lb\.config\.yaml: pools\.api\.upstreamTls: expected PEM files and a key that matches cert/)
})
