import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDiscoveredUrl } from '../core/index.js'
import { describeConfig } from './describe.js'
import { loadConfig } from './load.js'
import { configWarnings } from './upstream-tls-check.js'

test('a host name is discovered; IP literals and localhost are connected to as written', () => {
  assert.equal(isDiscoveredUrl('http://backend:3000'), true)
  assert.equal(isDiscoveredUrl('https://api.internal'), true)
  assert.equal(isDiscoveredUrl('srv+http://_http._tcp.api.internal'), true)
  assert.equal(isDiscoveredUrl('http://10.0.0.5:3000'), false)
  assert.equal(isDiscoveredUrl('http://[fd00::5]:3000'), false)
  assert.equal(isDiscoveredUrl('http://localhost:3000'), false)
  assert.equal(isDiscoveredUrl('http://app.localhost:3000'), false)
})

test('pool DNS settings load with their defaults, and unused dnsResolvers are a warning', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-dns-config-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'lb.config.yaml'), [
    'pools:',
    '  named: { backends: [{ url: "http://backend:3000" }] }',
    '  srv: { backends: [{ url: "srv+http://_http._tcp.api.internal" }], dnsRefresh: 5s, dnsResolvers: ["10.0.0.10:53", "[fd00::10]", "10.0.0.11"] }',
    '  ips: { backends: [{ url: "http://10.0.0.5:3000" }], dnsResolvers: ["10.0.0.10"] }',
  ].join('\n'))
  const c = await loadConfig({ cwd: dir, env: {} })
  assert.equal(c.pools.named?.dnsRefreshMs, 30_000)
  assert.deepEqual(c.pools.named?.dnsResolvers, [])
  assert.equal(c.pools.srv?.dnsRefreshMs, 5_000)
  assert.deepEqual(c.pools.srv?.dnsResolvers, ['10.0.0.10:53', '[fd00::10]', '10.0.0.11'])
  assert.equal(c.pools.srv?.backends[0]?.id, '_http._tcp.api.internal')
  // lb start / lb check say which backends are names and how they are resolved.
  assert.match(describeConfig(c), /pool named: round-robin, 1 endpoint \[backend:3000 \(DNS, every 30s\)\]/)
  assert.match(describeConfig(c), /_http\._tcp\.api\.internal \(DNS, every 5s via 10\.0\.0\.10:53 \[fd00::10\] 10\.0\.0\.11\)/)
  assert.deepEqual(configWarnings(c), ['pools.ips.dnsResolvers: no backend of the pool names a host (each is an IP address or localhost), so these DNS servers are never asked'])
})

test('an srv+ URL with a port, or naming an address, is a problem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-dns-config-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'lb.config.yaml'), 'pools:\n  p: { backends: [{ url: "srv+http://_http._tcp.api.internal:80" }, { url: "srv+http://10.0.0.1" }] }\n')
  await assert.rejects(loadConfig({ cwd: dir, env: {} }), (err: Error & { problems?: string[] }) => {
    const text = (err.problems ?? []).join('\n')
    assert.match(text, /pools\.p\.backends\[0\]\.url: expected an srv\+http:\/\/ URL without a port/)
    assert.match(text, /pools\.p\.backends\[1\]\.url: expected an SRV name/)
    return true
  })
})
