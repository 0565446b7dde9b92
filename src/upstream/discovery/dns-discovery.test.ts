import { test } from 'node:test'
import assert from 'node:assert/strict'
import diagnostics from 'node:diagnostics_channel'
import { CHANNELS, type DnsEvent } from '../../core/index.js'
import type { PoolConfig } from '../../config/index.js'
import { PoolDiscovery, type DiscoveryUpdate } from './dns-discovery.js'
import type { LookupResult } from './dns-lookup.js'

function pool(dnsRefreshMs: number): PoolConfig {
  return { name: 'p', dnsRefreshMs, dnsResolvers: [], backends: [{ id: 'svc.test:80', url: 'http://svc.test:80', weight: 1, backup: false, drained: false }] } as unknown as PoolConfig
}

/** Runs a discovery whose lookups answer from `answers` (an Error rejects), for `ms`; returns the lookup times and updates. */
async function run(refreshMs: number, answers: Array<LookupResult | Error>, ms: number): Promise<{ at: number[]; updates: DiscoveryUpdate[]; events: DnsEvent[] }> {
  const at: number[] = []
  const updates: DiscoveryUpdate[] = []
  const events: DnsEvent[] = []
  const onEvent = (m: unknown): void => void events.push(m as DnsEvent)
  diagnostics.subscribe(CHANNELS.dns, onEvent)
  const started = Date.now()
  let i = 0
  const d = new PoolDiscovery({
    pool: pool(refreshMs),
    onUpdate: (u) => updates.push(u),
    lookup: async () => {
      at.push(Date.now() - started)
      const a = answers[Math.min(i++, answers.length - 1)] as LookupResult | Error
      if (a instanceof Error) throw a
      return a
    },
  })
  d.start()
  await new Promise((r) => setTimeout(r, ms))
  d.stop()
  diagnostics.unsubscribe(CHANNELS.dns, onEvent)
  return { at, updates, events }
}

const one = (address: string, ttlSeconds: number | undefined): LookupResult => ({ addresses: [{ address, port: 80 }], ttlSeconds })

test('a record TTL shorter than dnsRefresh wins; a TTL of 0 still waits the 1 s minimum', async () => {
  const r = await run(30_000, [one('10.0.0.1', 1), one('10.0.0.1', 0), one('10.0.0.2', 0)], 2600)
  // At 0, ~1000 (TTL 1 s instead of 30 s), ~2000 (TTL 0 -> 1 s minimum): three lookups, never a busy loop.
  assert.equal(r.at.length, 3, `lookups at ${r.at.join(', ')} ms`)
  assert.ok((r.at[1] ?? 0) >= 950 && (r.at[2] ?? 0) - (r.at[1] ?? 0) >= 950, `lookups at ${r.at.join(', ')} ms`)
  // Changes are flagged: 10.0.0.1, the same again, then 10.0.0.2.
  assert.deepEqual(r.updates.map((u) => [u.endpoints.map((e) => e.id), u.changed]), [[['svc.test@10.0.0.1:80'], true], [['svc.test@10.0.0.1:80'], false], [['svc.test@10.0.0.2:80'], true]])
  assert.deepEqual(r.events.map((e) => [e.result, e.changed]), [['success', true], ['success', false], ['success', true]])
})

test('a failed lookup keeps the last set (no update) and is published as a failure', async () => {
  const err = Object.assign(new Error('queryA ETIMEOUT svc.test'), { code: 'ETIMEOUT' })
  const r = await run(1000, [one('10.0.0.1', undefined), err, err], 2500)
  assert.deepEqual(r.updates.map((u) => u.endpoints.map((e) => e.id)), [['svc.test@10.0.0.1:80']])
  assert.deepEqual(r.events.map((e) => [e.result, e.error, e.everResolved]), [['success', undefined, undefined], ['failure', 'ETIMEOUT', true], ['failure', 'ETIMEOUT', true]])
})
