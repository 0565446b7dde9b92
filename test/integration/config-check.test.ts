// `lb check --config FILE` end to end: every example is accepted (exit 0, "FILE: OK"); every invalid
// fixture is rejected (exit 1) with stderr naming the file, the path inside it and what was expected.
// Runs dist/cli.js when it exists (the build), else src/cli.ts through tsx.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const root = fileURLToPath(new URL('../..', import.meta.url))
const built = join(root, 'dist/cli.js')
const cli = existsSync(built) ? [built] : ['--import', 'tsx', join(root, 'src/cli.ts')]
/** An environment without the balancer's variables, so the host's settings don't leak into the check. */
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !['PORT', 'REDIS_URL', 'WORKER_COUNT', 'HEALTH_CHECK_INTERVAL', 'HEALTH_CHECK_PATH', 'ADMIN_HOST', 'ADMIN_PORT', 'LB_ADMIN_TOKEN', 'LB_CONFIG', 'LOG_LEVEL'].includes(k)),
)

function check(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cli, 'check', '--config', file], { cwd: root, env }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

const examples = readdirSync(join(root, 'examples')).filter((f) => /\.(ya?ml|json)$/.test(f))

test('every example is accepted', async (t) => {
  assert.ok(examples.length >= 5, `examples found: ${examples.join(', ')}`)
  for (const name of examples) {
    await t.test(name, async () => {
      const file = `examples/${name}`
      const r = await check(file)
      assert.equal(r.stderr, '')
      assert.equal(r.code, 0)
      assert.match(r.stdout, new RegExp(`^${file.replace(/\./g, '\\.')}: OK\n`))
      assert.match(r.stdout, /pool \S+: /)
    })
  }
})

/** Fixture -> [path (or location) inside the file, expectation]: one stderr line starts `FILE: path: ` and contains the expectation. */
const INVALID: Record<string, [where: string, expected: string][]> = {
  'bad-url.yaml': [['pools.api.backends[1].url', 'expected an http:// or https:// URL, got "ftp://x"']],
  'unknown-algorithm.yaml': [['pools.api.algorithm', 'expected one of round-robin, weighted-round-robin, least-connections, p2c, ewma, consistent-hash, random, got "round-robbin" (did you mean "round-robin"?)']],
  'unknown-key.yaml': [['pools.api.healthcheck', 'unknown key (did you mean "healthCheck"?)']],
  'bad-duration.yaml': [['pools.api.healthCheck.interval', 'expected a duration such as 250ms, 5s, 1m or a number of milliseconds, got "5 secs"']],
  'missing-pool.yaml': [['routes[0].pool', 'expected the name of a pool (api), got "apii" (did you mean "api"?)']],
  'duplicate-id.yaml': [['pools.api.backends[1].url', 'duplicate endpoint id "127.0.0.1:3001"']],
  'yaml-syntax.yaml': [['line 5, column 1', 'invalid YAML: All mapping items must start at the same column']],
  'bad-json.json': [['line 3, column 62', 'invalid JSON: expected a value, got "]"']],
  'negative-weight.yaml': [['pools.api.backends[0].weight', 'expected a weight >= 0, got -1']],
  'port-out-of-range.yaml': [['listen.port', 'expected an integer port 1-65535, got 70000']],
  'bad-regex.yaml': [['routes[0].match.pathRegex', 'expected a valid regular expression, got "^/users/(\\\\d+"']],
  'admin-without-token.yaml': [['admin.host', 'needs a token: expected admin.token (or env LB_ADMIN_TOKEN), or a loopback host such as 127.0.0.1']],
  'seed-bad-port.json': [['backends[0].port', 'expected an integer port 1-65535, got "abc"']],
  'no-backends.yaml': [['pools.api.backends', 'expected at least one backend, got an empty list']],
  'bad-hash-on.yaml': [['pools.api.hashOn', 'expected "ip", "header:NAME" or "cookie:NAME", got "url"']],
  'bad-dns-resolver.yaml': [
    ['pools.api.dnsResolvers[1]', 'expected a DNS server as an IP address with an optional port ("10.0.0.10:53", "[fd00::10]:53"), got "dns.internal:53"'],
    ['pools.api.dnsRefresh', 'expected a duration of at least 1s'],
  ],
  'bad-rate.yaml': [['routes[0].rateLimit.rate', 'expected a rate such as 100/s, 6000/m, 10000/h or a number per second, got "10/week"']],
  'many-problems.yaml': [
    ['listen.port', 'expected an integer port 1-65535, got 0'],
    ['workers', 'expected a number of workers >= 1 or "auto", got "many"'],
    ['pools.api.backends[0].url', 'expected an http:// or https:// URL such as http://10.0.0.5:3000, got "not a url"'],
    ['pools.api.backends[0].wieght', 'unknown key (did you mean "weight"?)'],
    ['pools.api.timeouts.connect', 'expected a duration such as 250ms, 5s, 1m or a number of milliseconds, got "soon"'],
    ['routes[0].pool', 'expected the name of a pool (api), got "web"'],
  ],
}

test('every invalid fixture is rejected with file, path and expectation', async (t) => {
  const fixtures = readdirSync(join(root, 'test/fixtures/config')).sort()
  assert.deepEqual(fixtures, Object.keys(INVALID).sort(), 'each fixture has expectations')
  for (const [name, expected] of Object.entries(INVALID)) {
    await t.test(name, async () => {
      const file = `test/fixtures/config/${name}`
      const r = await check(file)
      assert.equal(r.code, 1)
      assert.equal(r.stdout, '')
      const lines = r.stderr.trimEnd().split('\n')
      for (const [where, what] of expected) {
        const prefix = `${file}: ${where}: `
        assert.ok(lines.some((l) => l.startsWith(prefix) && l.includes(what)), `missing "${prefix}...${what}" in:\n${r.stderr}`)
      }
      assert.equal(lines.length, expected.length, `one line per problem:\n${r.stderr}`)
    })
  }
})

test('lb check --help exits 0; a missing file exits 1 naming it', async () => {
  const help = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, [...cli, 'check', '--help'], { cwd: root, env }, (err, stdout) => resolve({ code: err === null ? 0 : 1, stdout }))
  })
  assert.equal(help.code, 0)
  assert.match(help.stdout, /Usage: lb check/)
  const r = await check('test/fixtures/does-not-exist.yaml')
  assert.equal(r.code, 1)
  assert.equal(r.stderr, 'test/fixtures/does-not-exist.yaml: cannot read the configuration: file not found\n')
})
