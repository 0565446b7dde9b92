#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node:test, TypeScript loaded by tsx.
// Node 20's --test takes no globs, so the files are listed here. Pass paths or substrings to filter:
//   npm test -- balancer        npm test -- test/integration/proxy.test.ts
// Environment: TEST_CONCURRENCY (files at once, default 2), TEST_TIMEOUT (ms per test and per file, default 600000).
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawn } from 'node:child_process'

const root = new URL('..', import.meta.url).pathname
function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (name === 'node_modules' || name.startsWith('.')) continue
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.test.ts')) out.push(relative(root, p))
  }
  return out
}
const filters = process.argv.slice(2)
let files = walk(join(root, 'src'), []).concat(walk(join(root, 'test'), [])).sort()
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)))
if (files.length === 0) {
  console.error('no test files matched', filters)
  process.exit(1)
}
// A test that hangs fails after TEST_TIMEOUT ms instead of stalling the run (and CI). Node applies the limit
// to each test file's run as a whole as well, so the default (10 min) leaves room for the longest files.
const timeoutMs = process.env.TEST_TIMEOUT ?? '600000'
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, `--test-timeout=${timeoutMs}`, ...files]
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, LB_TEST: '1' } })
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
