// The `lb` command line as a user runs it (node dist/cli.js, a real child process): usage errors exit 2
// with one line and the usage, failures exit 1 with one line, never a Node stack trace; `lb version`,
// `lb config print` (effective configuration, secrets redacted) and `lb check` loading certificates.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CLI, REPO_ROOT } from '../helpers/balancer-process.js'
import { getFreePorts } from '../helpers/index.js'

const run = promisify(execFile)
/** An environment without the balancer's variables, so the host's settings don't leak in. */
const BASE_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(PORT|REDIS_URL|WORKER_COUNT|HEALTH_CHECK_.*|ADMIN_.*|LB_.*|METRICS_.*|LOG_LEVEL)$/.test(k)),
)

interface Result { code: number; stdout: string; stderr: string }

function lb(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: { ...BASE_ENV, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

function assertNoStack(r: Result): void {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace expected:\n${r.stderr}`)
}

/** First line of stderr, then (after a blank line) the usage of the command. */
function assertUsageError(r: Result, command: string, mention: string): void {
  assert.equal(r.code, 2, `exit 2 expected, got ${r.code}:\n${r.stderr}`)
  assertNoStack(r)
  const [first, blank, usage] = r.stderr.split('\n')
  assert.match(first ?? '', new RegExp(`^lb( ${command})?: .*${mention.replace(/[-[\]/{}()*+?.\\^$|]/g, '\\$&')}`))
  assert.equal(blank, '')
  assert.match(usage ?? '', /^Usage: lb/)
  assert.equal(r.stdout, '')
}

test('usage errors: one line naming the problem, then the usage, exit 2', async () => {
  assertUsageError(await lb(['start', '--bogus']), 'start', "'--bogus'")
  assertUsageError(await lb(['demo', '--bogus']), 'demo', "'--bogus'")
  assertUsageError(await lb(['check', '--bogus']), 'check', "'--bogus'")
  assertUsageError(await lb(['start', '--config']), 'start', '--config')
  assertUsageError(await lb(['start', '--port', 'abc']), 'start', '--port: expected a non-negative integer, got "abc"')
  assertUsageError(await lb(['start', 'extra']), 'start', "unexpected argument 'extra'")
  assertUsageError(await lb(['config']), 'config', 'expected a subcommand')
  assertUsageError(await lb(['config', 'show']), 'config', "unknown subcommand 'show'")
  assertUsageError(await lb(['nope']), 'nope', "unknown command 'nope'")
  assertUsageError(await lb([]), '', 'expected a command')
  const bench = await lb(['bench', '--bogus'])
  assert.equal(bench.code, 2, bench.stderr)
  assertNoStack(bench)
  assert.equal(bench.stderr, "lb bench: unknown option '--bogus'\nRun 'lb bench --help' for the options.\n")
})

test('lb start -c FILE is --config FILE: a missing file is one line and exit 1', async () => {
  const r = await lb(['start', '-c', 'test/fixtures/does-not-exist.yaml'])
  assert.equal(r.code, 1)
  assertNoStack(r)
  assert.equal(r.stderr, 'test/fixtures/does-not-exist.yaml: cannot read the configuration: file not found\n')
})

test('lb version and lb --version print the package version', async () => {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
  const v = await lb(['version'])
  assert.equal(v.code, 0)
  assert.equal(v.stdout, `lb ${pkg.version} (Node.js ${process.version}, ${process.platform}-${process.arch})\n`)
  const flag = await lb(['--version'])
  assert.equal(flag.code, 0)
  assert.equal(flag.stdout, `${pkg.version}\n`)
})

test('lb config print: defaults, file, environment and flags applied; secrets redacted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-cli-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'lb.config.yaml')
  await writeFile(
    file,
    [
      'listen: { port: 8081 }',
      'admin: { token: file-token-secret }',
      'state: { redis: { url: "redis://user:redis-pass-secret@127.0.0.1:6390/0" } }',
      'pools:',
      '  api:',
      '    backends: [{ url: "http://127.0.0.1:3001" }]',
      'routes:',
      '  - match: { pathPrefix: / }',
      '    pool: api',
      '    requestHeaders: { set: { authorization: "Bearer header-secret", x-team: blue } }',
      '',
    ].join('\n'),
  )
  const r = await lb(['config', 'print', '-c', file, '--workers', '3', '--json'], { LB_ADMIN_TOKEN: 'env-token-secret', ADMIN_PORT: '9911' })
  assert.equal(r.code, 0, r.stderr)
  assert.doesNotMatch(r.stdout, /secret/)
  const c = JSON.parse(r.stdout) as {
    listen: { port: number; host: string }
    workers: number
    admin: { port: number; token: string }
    state: { url: string }
    drainTimeoutMs: number
    routes: Array<{ requestHeaders: { set: Record<string, string> } }>
  }
  assert.equal(c.listen.port, 8081) // file
  assert.equal(c.listen.host, '0.0.0.0') // default
  assert.equal(c.admin.port, 9911) // environment
  assert.equal(c.workers, 3) // flag
  assert.equal(c.drainTimeoutMs, 30_000) // default, normalised
  assert.equal(c.admin.token, '<redacted>')
  assert.equal(c.state.url, 'redis://user:***@127.0.0.1:6390/0')
  assert.equal(c.routes[0]?.requestHeaders.set.authorization, '<redacted>')
  assert.equal(c.routes[0]?.requestHeaders.set['x-team'], 'blue')
  const yaml = await lb(['config', 'print', '--config', file])
  assert.equal(yaml.code, 0)
  assert.match(yaml.stdout, /^listen:\n {2}host: 0\.0\.0\.0\n {2}port: 8081$/m)
  assert.doesNotMatch(yaml.stdout, /secret/)
})

/** A self-signed certificate and key for `cn`, written by `openssl req`. */
async function makeCert(dir: string, name: string, cn: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert])
  return { cert, key }
}

test('lb check loads the TLS certificates: missing file, bad PEM and mismatched key exit 1 naming the path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-cli-certs-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const a = await makeCert(dir, 'a', 'a.test')
  const b = await makeCert(dir, 'b', 'b.test')
  const notPem = join(dir, 'not.pem')
  await writeFile(notPem, 'hello\n')
  const config = async (name: string, cert: string, key: string): Promise<string> => {
    const file = join(dir, name)
    await writeFile(file, JSON.stringify({ tls: { port: 8443, certificates: [{ cert, key }] }, pools: { api: { backends: [{ url: 'http://127.0.0.1:3001' }] } } }))
    return file
  }
  const good = await lb(['check', '-c', await config('good.json', 'a.crt', 'a.key')])
  assert.equal(good.code, 0, good.stderr)
  assert.match(good.stdout, /good\.json: OK/)

  const cases: Array<[string, string, string, RegExp]> = [
    ['missing.json', 'a.crt', 'gone.key', new RegExp(`tls\\.certificates\\[0\\]\\.key: ${join(dir, 'gone.key')}: cannot read: file not found$`)],
    ['bad-pem.json', notPem, 'a.key', new RegExp(`tls\\.certificates\\[0\\]\\.cert: ${notPem}: expected a PEM certificate`)],
    ['mismatch.json', 'a.crt', 'b.key', new RegExp(`tls\\.certificates\\[0\\]\\.key: ${b.key}: the private key does not match the certificate ${a.cert}$`)],
  ]
  for (const [name, cert, key, expected] of cases) {
    const file = await config(name, cert, key)
    const r = await lb(['check', file])
    assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`)
    assertNoStack(r)
    const lines = r.stderr.trimEnd().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.ok(lines[0]?.startsWith(`${file}: `), r.stderr)
    assert.match(lines[0] ?? '', expected)
  }
})

test('lb start with a missing certificate: the problems naming the file, exit 1, no crash loop', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-cli-start-cert-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'lb.config.json')
  await writeFile(file, JSON.stringify({ listen: { host: '127.0.0.1' }, workers: 2, tls: { host: '127.0.0.1', port: 8443, certificates: [{ cert: 'gone.crt', key: 'gone.key' }] }, pools: { api: { backends: [{ url: 'http://127.0.0.1:3001' }] } } }))
  const [port = 0, admin = 0] = await getFreePorts(2)
  const r = await lb(['start', '-c', file], { PORT: String(port), ADMIN_PORT: String(admin), LOG_LEVEL: 'warn' }, 20_000)
  assert.equal(r.code, 1, `exit 1 expected (got ${r.code}):\n${r.stderr.slice(0, 2000)}`)
  assertNoStack(r)
  assert.equal(
    r.stderr,
    `${file}: tls.certificates[0].cert: ${join(dir, 'gone.crt')}: cannot read: file not found\n${file}: tls.certificates[0].key: ${join(dir, 'gone.key')}: cannot read: file not found\n`,
  )
})

test('an address in use is one line naming it, exit 1 (proxy listener and admin server)', async (t) => {
  const [busy, free1, free2] = await getFreePorts(3)
  const holder: Server = createServer()
  await new Promise<void>((resolve) => holder.listen(busy, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  const dir = await mkdtemp(join(tmpdir(), 'lb-cli-port-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'lb.config.json')
  await writeFile(file, JSON.stringify({ listen: { host: '127.0.0.1' }, workers: 2, pools: { api: { backends: [{ url: 'http://127.0.0.1:3001' }] } } }))

  const listener = await lb(['start', '-c', file], { PORT: String(busy), ADMIN_PORT: String(free1), LOG_LEVEL: 'warn' })
  assert.equal(listener.code, 1, listener.stderr)
  assertNoStack(listener)
  assert.equal(listener.stderr, `lb: cannot listen on 127.0.0.1:${busy} (proxy listener): address already in use\n`)

  const admin = await lb(['start', '-c', file], { PORT: String(free2), ADMIN_PORT: String(busy), LOG_LEVEL: 'warn' })
  assert.equal(admin.code, 1, admin.stderr)
  assertNoStack(admin)
  assert.equal(admin.stderr, `lb: cannot listen on 127.0.0.1:${busy} (admin server): address already in use\n`)
})
