import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { SecureContext } from 'node:tls'
import { isLbError } from '../core/index.js'
import { CertificateStore, type CertificateReloadEvent } from './certificates.js'

const run = promisify(execFile)

async function makeCert(dir: string, name: string, san: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', cert])
  return { cert, key }
}

describe('CertificateStore', () => {
  let dir: string
  let def: { cert: string; key: string }
  let a: { cert: string; key: string }
  let multi: { cert: string; key: string }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lb-certs-'))
    ;[def, a, multi] = await Promise.all([
      makeCert(dir, 'default', 'DNS:default.test'),
      makeCert(dir, 'a', 'DNS:a.test'),
      makeCert(dir, 'multi', 'DNS:m1.test,DNS:*.m.test'),
    ])
  })
  after(() => rm(dir, { recursive: true, force: true }))

  const load = (extra: Partial<Parameters<typeof CertificateStore.load>[1]> = {}): CertificateStore =>
    CertificateStore.load([
      { ...def, serverNames: [] },
      { ...a, serverNames: ['a.test', '*.wild.test'] },
      { ...multi, serverNames: [] },
    ], { watch: false, ...extra })

  test('exact names, one-label wildcards, names from the certificate, default for the rest', () => {
    const store = load()
    const [d, x, m] = [store.contextFor(undefined), store.contextFor('a.test'), store.contextFor('m1.test')]
    assert.notEqual(d, x)
    assert.notEqual(x, m)
    assert.equal(store.contextFor('A.TEST.'), x, 'case and a trailing dot are ignored')
    assert.equal(store.contextFor('q.wild.test'), x)
    assert.equal(store.contextFor('r.q.wild.test'), d, 'a wildcard covers one label')
    assert.equal(store.contextFor('wild.test'), d)
    assert.equal(store.contextFor('z.m.test'), m, 'SAN wildcard used when serverNames is empty')
    assert.equal(store.contextFor('nope.test'), d)
    assert.equal(store.contextFor(''), d)
    assert.deepEqual(store.names, ['default.test', 'a.test', '*.wild.test', 'm1.test', '*.m.test'])
  })

  test('sniCallback never fails a handshake: exceptions serve the default context', () => {
    const errors: unknown[] = []
    const store = load({ onSniError: (e) => errors.push(e) })
    const got: Array<SecureContext | undefined> = []
    store.sniCallback('a.test', (err, ctx) => got.push(err === null ? ctx : undefined))
    store.contextFor = () => {
      throw new Error('boom')
    }
    store.sniCallback('a.test', (err, ctx) => got.push(err === null ? ctx : undefined))
    assert.equal(got.length, 2)
    assert.ok(got[0] !== undefined && got[1] !== undefined && got[0] !== got[1])
    assert.equal(errors.length, 1)
  })

  test('inline PEM is accepted', async () => {
    const store = CertificateStore.load([{ cert: await readFile(a.cert, 'utf8'), key: await readFile(a.key, 'utf8'), serverNames: [] }], { watch: false })
    assert.deepEqual(store.names, ['a.test'])
  })

  test('a bad initial set throws LB_ERR_CONFIG naming the entry', async () => {
    assert.throws(() => CertificateStore.load([{ cert: a.cert, key: def.key, serverNames: [] }], { watch: false }), (err) =>
      isLbError(err, 'LB_ERR_CONFIG') && /tls\.certificates\[0\]: the private key does not match/.test(err.message))
    assert.throws(() => CertificateStore.load([{ cert: join(dir, 'missing.crt'), key: a.key, serverNames: [] }], { watch: false }), (err) =>
      isLbError(err, 'LB_ERR_CONFIG') && /tls\.certificates\[0\]\.cert: cannot read .*ENOENT/.test(err.message))
  })

  test('a failed reload keeps the previous contexts and reports; a good one swaps them', async () => {
    const events: CertificateReloadEvent[] = []
    const copy = { cert: join(dir, 'copy.crt'), key: join(dir, 'copy.key') }
    await writeFile(copy.cert, await readFile(a.cert))
    await writeFile(copy.key, await readFile(a.key))
    const store = CertificateStore.load([{ ...copy, serverNames: [] }], { watch: false, onReload: (e) => events.push(e) })
    const before = store.contextFor('a.test')
    await writeFile(copy.cert, 'garbage')
    assert.equal(store.reload(), false)
    assert.equal(store.contextFor('a.test'), before)
    const last = events.at(-1)
    assert.ok(last !== undefined && !last.ok && /PEM|certificate/i.test(last.error.message))
    assert.equal(store.reload([{ ...def, serverNames: [] }]), true)
    assert.notEqual(store.contextFor('x'), before)
    assert.deepEqual(store.names, ['default.test'])
  })

  test('a changed file on disk is picked up by the watcher (debounced)', async () => {
    const events: CertificateReloadEvent[] = []
    const copy = { cert: join(dir, 'w.crt'), key: join(dir, 'w.key') }
    await writeFile(copy.cert, await readFile(a.cert))
    await writeFile(copy.key, await readFile(a.key))
    const store = CertificateStore.load([{ ...copy, serverNames: [] }], { debounceMs: 20, pollIntervalMs: 100, onReload: (e) => events.push(e) })
    try {
      const before = store.contextFor('a.test')
      await writeFile(copy.cert, await readFile(def.cert))
      await writeFile(copy.key, await readFile(def.key))
      const deadline = Date.now() + 3000
      while (store.contextFor('a.test') === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      assert.notEqual(store.contextFor('a.test'), before)
      assert.ok(events.some((e) => e.ok && e.reason === 'change'))
    } finally {
      store.close()
    }
  })
})
