// scripts/check-layers.mjs run as `npm run lint` runs it (a child process), over small src/ trees written to
// a temporary directory: what it prints and its exit code.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('../../scripts/check-layers.mjs', import.meta.url))

interface Run { code: number; stdout: string; stderr: string; problems: string[] }

/** Writes `files` (path under the root -> text) to a fresh temporary root and runs the checker on it. */
async function check(t: { after(fn: () => Promise<void>): void }, files: Record<string, string>): Promise<Run> {
  const root = await mkdtemp(join(tmpdir(), 'check-layers-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), text)
  }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, root], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') return reject(err)
      const problems = stderr.split('\n').filter((l) => l.startsWith('src/'))
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr, problems })
    })
  })
}

/** A small, well-layered tree the cases below break one way each. */
const base: Record<string, string> = {
  'src/core/index.ts': "export { id } from './ids.js'\n",
  'src/core/ids.ts': 'export const id = (s: string): string => s\n',
  'src/upstream/index.ts': "export { pool } from './pool.js'\n",
  'src/upstream/pool.ts': "import { id } from '../core/index.js'\nimport { probe } from './health/index.js'\nexport const pool = id('p') + probe\n",
  'src/upstream/health/index.ts': "export { probe } from './active.js'\n",
  'src/upstream/health/active.ts': "import { id } from '../../core/index.js'\nexport const probe = id('h')\n",
  'src/proxy/index.ts': "export { handle } from './handler.js'\n",
  'src/proxy/handler.ts': "import { pool } from '../upstream/index.js'\nexport const handle = (): string => pool\n",
  'src/app.ts': "import { handle } from './proxy/index.js'\nexport const start = handle\n",
  'src/cli.ts': "// a comment that mentions import '../nowhere.js' counts for nothing\nexport const start = (): Promise<unknown> => import('./app.js')\n",
}

test('a well-layered tree passes: exit 0, nothing on stderr', async (t) => {
  const r = await check(t, base)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.match(r.stdout, /no cycle/)
})

test('an import cycle fails with file:line naming every module in it, type-only imports included', async (t) => {
  const r = await check(t, {
    ...base,
    'src/proxy/index.ts': "export { handle } from './handler.js'\nexport type { Kind } from './kind.js'\n",
    'src/proxy/handler.ts': "import { pool } from '../upstream/index.js'\nimport type { Kind } from './kind.js'\nexport const handle = (k?: Kind): string => pool + String(k)\n",
    'src/proxy/kind.ts': "import type { handle } from './handler.js'\nexport type Kind = ReturnType<typeof handle>\n",
  })
  assert.equal(r.code, 1)
  assert.deepEqual(r.problems, ['src/proxy/handler.ts:2: import cycle: src/proxy/handler.ts <-> src/proxy/kind.ts'])
})

test('an import that runs up the layers fails, naming both layers and the line', async (t) => {
  const r = await check(t, {
    ...base,
    'src/core/ids.ts': "\nimport { pool } from '../upstream/index.js'\nexport const id = (s: string): string => s + pool\n",
  })
  assert.equal(r.code, 1)
  // core -> upstream -> core is also a cycle; both are reported.
  assert.ok(r.problems.includes('src/core/ids.ts:2: imports up the layers: core (layer 0) -> upstream (layer 2) via "../upstream/index.js"'), r.stderr)
  assert.ok(r.problems.some((p) => /^src\/core\/ids\.ts:2: import cycle: /.test(p)), r.stderr)
})

test('loadtest/ may not import the composition root', async (t) => {
  const r = await check(t, {
    ...base,
    'src/loadtest/index.ts': "export { stack } from './local-stack.js'\n",
    'src/loadtest/local-stack.ts': "import { start } from '../app.js'\nexport const stack = start\n",
  })
  assert.equal(r.code, 1)
  assert.deepEqual(r.problems, ['src/loadtest/local-stack.ts:1: imports up the layers: loadtest (layer 5) -> app (layer 6) via "../app.js"'])
})

test('an import from outside a folder that bypasses its index.ts fails; the index itself and inside imports pass', async (t) => {
  const r = await check(t, {
    ...base,
    'src/proxy/handler.ts': "import { pool } from '../upstream/pool.js'\nimport { probe } from '../upstream/health/active.js'\nexport const handle = (): string => pool + probe\n",
  })
  assert.equal(r.code, 1)
  assert.deepEqual(r.problems, [
    'src/proxy/handler.ts:1: bypasses src/upstream/index.ts: import "../upstream/pool.js" from outside src/upstream/ should go through its index.ts',
    'src/proxy/handler.ts:2: bypasses src/upstream/health/index.ts: import "../upstream/health/active.js" from outside src/upstream/health/ should go through its index.ts',
  ])
})

test('a subfolder without an index.ts is entered through the nearest enclosing index.ts', async (t) => {
  const r = await check(t, {
    ...base,
    'src/upstream/tls/options.ts': "export const tls = 't'\n",
    'src/upstream/pool.ts': "import { id } from '../core/index.js'\nimport { tls } from './tls/options.js'\nexport const pool = id('p') + tls\n",
    'src/proxy/handler.ts': "import { tls } from '../upstream/tls/options.js'\nexport const handle = (): string => tls\n",
  })
  assert.equal(r.code, 1)
  assert.deepEqual(r.problems, ['src/proxy/handler.ts:1: bypasses src/upstream/index.ts: import "../upstream/tls/options.js" from outside src/upstream/ should go through its index.ts'])
})

test('tests and conformance suites are not checked; a folder in no layer is reported', async (t) => {
  const r = await check(t, {
    ...base,
    'src/core/ids.test.ts': "import { handle } from '../proxy/handler.js'\nvoid handle\n",
    'src/core/ids.suite.ts': "import { start } from '../app.js'\nvoid start\n",
    'src/gadgets/index.ts': "export const g = 1\n",
  })
  assert.equal(r.code, 1)
  assert.deepEqual(r.problems, ['src/gadgets/index.ts:1: "gadgets" is in no layer; add it to LAYERS in scripts/check-layers.mjs'])
})

test('an import naming no file is reported', async (t) => {
  const r = await check(t, { ...base, 'src/app.ts': "import { handle } from './proxy/index.js'\nimport { gone } from './proxy/gone.js'\nexport const start = handle + gone\n" })
  assert.equal(r.code, 1)
  assert.deepEqual(r.problems, ['src/app.ts:2: import "./proxy/gone.js" names no file'])
})

test("the repository's own src/ passes", async () => {
  const repo = fileURLToPath(new URL('../..', import.meta.url))
  const r = await new Promise<{ code: number; out: string }>((resolve, reject) => {
    execFile(process.execPath, [script, repo], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') return reject(err)
      resolve({ code: err === null ? 0 : (err.code as number), out: stdout + stderr })
    })
  })
  assert.equal(r.code, 0, r.out)
})
