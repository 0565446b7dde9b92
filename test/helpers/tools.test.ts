/**
 * A missing system tool skips its test on a developer machine and fails it in CI: each test file is run
 * as a child `node --test` with the tool out of reach, once as a developer would and once with CI=true.
 * The Redis helper reports a missing redis-server as a rejected start, not an uncaught exception.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from './balancer-process.js'

/** Runs `node --import tsx --test [--test-name-pattern P] FILE` in the repository with `env` added. */
function runTestFile(file: string, env: Record<string, string>, pattern?: string): { status: number | null; output: string } {
  const args = ['--import', 'tsx', '--test', '--test-reporter=spec', ...(pattern === undefined ? [] : [`--test-name-pattern=${pattern}`]), file]
  const base = { ...process.env }
  delete base.CI
  delete base.LB_REQUIRE_TOOLS
  delete base.NODE_TEST_CONTEXT // set by the parent test runner: the child would report to it, not print
  const r = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, env: { ...base, ...env } })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

/** An empty directory to use as PATH: no system tool is found there. */
function emptyPath(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-no-tools-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('dashboard test without a browser: skipped on a developer machine, failed when CI=true', () => {
  const noBrowser = { LB_CHROMIUM: '/nonexistent/chromium' }
  const dev = runTestFile('test/integration/dashboard.test.ts', noBrowser)
  assert.equal(dev.status, 0, dev.output)
  assert.match(dev.output, /no browser at \/nonexistent\/chromium/)
  assert.match(dev.output, /skipped 1/)
  const ci = runTestFile('test/integration/dashboard.test.ts', { ...noBrowser, CI: 'true' })
  assert.equal(ci.status, 1, ci.output)
  assert.match(ci.output, /no browser at \/nonexistent\/chromium.*required here/)
  assert.match(ci.output, /fail 1/)
})

test('alert rules test without promtool: skipped on a developer machine, failed when CI=true', (t) => {
  const noTools = { PATH: emptyPath(t) }
  const dev = runTestFile('test/integration/deploy.test.ts', noTools, 'promtool')
  assert.equal(dev.status, 0, dev.output)
  assert.match(dev.output, /promtool not installed/)
  const ci = runTestFile('test/integration/deploy.test.ts', { ...noTools, CI: 'true' }, 'promtool')
  assert.equal(ci.status, 1, ci.output)
  assert.match(ci.output, /promtool not installed.*required here/)
})

test('Redis helper without redis-server: the start rejects with what to install; no uncaught exception', (t) => {
  const script = [
    "import { startRedis } from './test/helpers/redis.ts'",
    'startRedis().then(',
    "  (h) => { console.log('started'); return h.stop() },",
    "  (err) => { console.log('rejected: ' + err.message) },",
    ')',
  ].join('\n')
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000, env: { ...process.env, PATH: emptyPath(t) },
  })
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  assert.match(r.stdout, /^rejected: redis-server not found on PATH: .*apt-get install redis-server/m)
})
