// A proxy worker loads only what serving needs. The configuration schema (zod), the YAML parser, ioredis
// (without Redis) and the admin server belong to the primary; each of them costs a worker several MiB of
// RSS for nothing (zod and yaml together about 7 MiB of an idle worker's 68). They crept back in once,
// through one helper that upstream/ imported from config/index.ts, which re-exports the loader: this test
// runs `lb start` with a module-loading hook that records, per process, every module resolved, and checks
// the workers' lists.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { startBalancerProcess } from '../helpers/balancer-process.js'
import { startTestBackend } from '../helpers/backend.js'
import { httpGet } from '../helpers/net.js'

/** Writes the hook (run in Node's loader thread) and its registration module into `dir`. */
function writeHooks(dir: string): string {
  const hooks = join(dir, 'hooks.mjs')
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  appendFileSync(${JSON.stringify(dir)} + '/modules.' + process.pid, r.url + '\\n')
  return r
}
`)
  const register = join(dir, 'register.mjs')
  writeFileSync(register, `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(hooks).href)})\n`)
  return register
}

/** What must stay out of a worker: a package or a folder of dist/. */
const PRIMARY_ONLY = [/\/node_modules\/zod\//, /\/node_modules\/yaml\//, /\/node_modules\/ioredis\//, /\/dist\/admin\//, /\/dist\/config\/(load|schema)[^/]*\.js$/]

test('a worker loads neither the configuration schema, the YAML parser, ioredis nor the admin server', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-footprint-'))
  const backend = await startTestBackend({ name: 'b1' })
  const register = writeHooks(dir)
  const lb = await startBalancerProcess({
    config: {
      workers: 2,
      log: { accessLog: false },
      pools: { main: { backends: [{ url: backend.url }], healthCheck: { interval: '1s' } } },
    },
    env: { NODE_OPTIONS: `--import=${register}` },
    timeoutMs: 60_000,
  })
  try {
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(`http://127.0.0.1:${lb.port}/`)).status, 200)
  } finally {
    assert.equal(await lb.stop(), 0)
    await backend.close()
  }
  try {
    const lists = new Map<number, string[]>()
    for (const name of readdirSync(dir)) {
      const m = /^modules\.(\d+)$/.exec(name)
      if (m) lists.set(Number(m[1]), readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean))
    }
    const primary = lists.get(lb.pid)
    assert.ok(primary !== undefined, 'the hook recorded nothing for the primary')
    // The hook sees what it should: the primary validates the configuration with zod.
    assert.ok(primary.some((u) => /\/node_modules\/zod\//.test(u)), 'the primary did not load zod: the hook records nothing useful')
    const workers = [...lists.keys()].filter((pid) => pid !== lb.pid)
    assert.equal(workers.length, 2, `expected the two workers' module lists, got ${workers.length}`)
    for (const pid of workers) {
      const list = lists.get(pid) ?? []
      assert.ok(list.some((u) => u.endsWith('/dist/worker.js')), `process ${pid} is no worker`)
      const extra = list.filter((u) => PRIMARY_ONLY.some((re) => re.test(u)))
      assert.deepEqual([...new Set(extra)], [], `worker ${pid} loaded modules only the primary needs`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
