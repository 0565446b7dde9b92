/**
 * The primary sends to its workers (state broadcasts, metric requests, rate-limit grants) after checking
 * `isConnected()`; a worker that died since its last event still passes that check, and the send then
 * fails with EPIPE after it returned, as an 'error' event on the worker. Unheard, that event killed the
 * primary and every other worker with it (seen once in CI, from the dashboard's metric request during
 * `lb bench --compare`). Here a real primary kills its worker, keeps its event loop busy until the worker
 * is surely gone, and broadcasts to it: the primary must live on and report the lost message.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { REPO_ROOT } from '../helpers/balancer-process.js'

const WORKER = `
process.on('message', (m) => { if (m && m.type === 'lb:config') process.send({ type: 'lb:ready', pid: process.pid }) })
process.send({ type: 'lb:hello', pid: process.pid })
setInterval(() => {}, 1000)
`

const primary = (supervisor: string, worker: string): string => `
import { WorkerSupervisor } from ${JSON.stringify(supervisor)}
const s = new WorkerSupervisor({ workers: 1 }, { workerScript: ${JSON.stringify(worker)}, execArgv: [], log: (l) => console.log(l) })
await s.start()
const [w] = s.workers()
process.kill(w.process.pid, 'SIGKILL')
// Busy: the worker's death is not seen yet, so it still counts as connected.
const until = Date.now() + 300
while (Date.now() < until) {}
for (let i = 0; i < 20; i++) s.broadcast({ type: 'lb:drain', timeoutMs: 1 })
setTimeout(() => { console.log('primary alive'); process.exit(0) }, 500)
`

test('the primary outlives a message to a worker that has just died (EPIPE on the IPC channel)', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-dead-worker-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const worker = join(dir, 'worker.mjs')
  const main = join(dir, 'primary.mjs')
  writeFileSync(worker, WORKER)
  writeFileSync(main, primary(pathToFileURL(join(REPO_ROOT, 'dist', 'cluster', 'index.js')).href, worker))
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [main], { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stdout, stderr }))
  })
  assert.equal(code, 0, stderr)
  assert.match(stdout, /primary alive/)
  assert.match(stdout, /message not delivered \((EPIPE|ECONNRESET|ERR_IPC_CHANNEL_CLOSED)\)/)
})
