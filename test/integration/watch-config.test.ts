/**
 * `--watch-config` / `watchConfig: true` on a real balancer (`lb start`, 2 workers): a Kubernetes
 * ConfigMap volume's update (the `..data` symlink flipped to a new timestamped directory by renaming a
 * new symlink over it) is picked up and the new backend serves; an invalid update is rejected as with
 * SIGHUP (the running configuration stays, the problem is logged); an editor's save (write a temporary
 * file, rename it over the original) is picked up with `watchConfig: true` in the file.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBalancerProcess } from '../helpers/balancer-process.js'
import { httpGet, startTestBackend, waitFor, type TestBackend } from '../helpers/index.js'

function configFor(backend: TestBackend, extra = ''): string {
  return `listen: { host: 127.0.0.1 }\nworkers: 2\nlog: { accessLog: false }\n${extra}pools:\n  web:\n    backends:\n      - url: ${backend.url}\n    healthCheck: { enabled: false }\n`
}

async function servedBy(port: number): Promise<string | undefined> {
  const r = await httpGet(`http://127.0.0.1:${port}/who`)
  return r.status === 200 ? String(r.headers['x-backend']) : undefined
}

test('a ConfigMap-style ..data symlink swap reloads; an invalid swap is rejected and the running configuration stays', async (t) => {
  const a = await startTestBackend({ name: 'a' })
  const b = await startTestBackend({ name: 'b' })
  t.after(() => Promise.all([a.close(), b.close()]))
  const dir = await mkdtemp(join(tmpdir(), 'lb-configmap-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  // The layout the kubelet writes: lb.config.yaml -> ..data/lb.config.yaml, ..data -> ..2026_<time>.
  const version = async (name: string, text: string): Promise<void> => {
    await mkdir(join(dir, name))
    await writeFile(join(dir, name, 'lb.config.yaml'), text)
  }
  const flip = async (name: string): Promise<void> => {
    await symlink(name, join(dir, '..data_tmp'))
    await rename(join(dir, '..data_tmp'), join(dir, '..data')) // atomic, as the kubelet does
  }
  await version('..2026_12_07_01', configFor(a))
  await symlink('..2026_12_07_01', join(dir, '..data'))
  await symlink('..data/lb.config.yaml', join(dir, 'lb.config.yaml'))

  const lb = await startBalancerProcess({ args: ['--config', join(dir, 'lb.config.yaml'), '--watch-config'], env: { LOG_LEVEL: 'info' } })
  t.after(() => lb.stop())
  assert.match(lb.output(), /lb: watching .*lb\.config\.yaml for changes/)
  assert.equal(await servedBy(lb.port), 'a')

  await version('..2026_12_07_02', configFor(b))
  await flip('..2026_12_07_02')
  await waitFor(async () => (await servedBy(lb.port)) === 'b', { timeoutMs: 15_000, message: 'backend b serves after the symlink swap' })
  assert.match(lb.output(), /lb: configuration reloaded/)

  await version('..2026_12_07_03', configFor(b).replace('url: ', 'url: ftp://nope # '))
  await flip('..2026_12_07_03')
  await waitFor(() => /reload rejected, the running configuration stays/.test(lb.output()), { timeoutMs: 15_000, message: 'the invalid swap is rejected' })
  assert.match(lb.output(), /pools\.web\.backends\[0\]\.url: expected an http:\/\/ URL/)
  for (let i = 0; i < 5; i++) assert.equal(await servedBy(lb.port), 'b')
  assert.equal(lb.child.exitCode, null, 'still running')
})

test('watchConfig: true in the file reloads an editor-style save (write, then rename over)', async (t) => {
  const a = await startTestBackend({ name: 'a' })
  const b = await startTestBackend({ name: 'b' })
  t.after(() => Promise.all([a.close(), b.close()]))
  const dir = await mkdtemp(join(tmpdir(), 'lb-watch-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'lb.config.yaml')
  await writeFile(file, configFor(a, 'watchConfig: true\n'))
  const lb = await startBalancerProcess({ args: ['-c', file] })
  t.after(() => lb.stop())
  assert.equal(await servedBy(lb.port), 'a')
  await writeFile(`${file}.tmp`, configFor(b, 'watchConfig: true\n'))
  await rename(`${file}.tmp`, file)
  await waitFor(async () => (await servedBy(lb.port)) === 'b', { timeoutMs: 15_000, message: 'backend b serves after the save' })
})
