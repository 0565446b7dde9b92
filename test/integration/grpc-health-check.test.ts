/**
 * `healthCheck.grpc`: active checks in the gRPC health protocol against a grpc-js health server, through
 * a real balancer process: SERVING keeps the endpoint up; NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN and a
 * server without the health service take it out; SERVING again brings it back. The service name asked
 * about is the configured one. Over TLS the checks use the pool's upstreamTls (CA, client certificate).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { startAdminBalancer, type AdminBalancer } from '../helpers/admin.js'
import { waitFor } from '../helpers/index.js'
import { ServingStatus, startGrpcBackend, startGrpcHealthBackend } from '../helpers/grpc.js'
import { makeTestCa, makeTestLeaf } from '../helpers/test-pki.js'

async function isUp(lb: AdminBalancer, endpoint: string): Promise<boolean> {
  return (await lb.metrics()).sum('lb_endpoint_up', { pool: 'grpc', endpoint }) === 1
}

test('gRPC health checks: SERVING is healthy; NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, UNIMPLEMENTED are not', async (t) => {
  const health = await startGrpcHealthBackend()
  // A gRPC server with no health service at all: its checks end in UNIMPLEMENTED.
  const noHealth = await startGrpcBackend('plain')
  t.after(async () => {
    health.close()
    await noHealth.close()
  })
  health.statuses.set('test.Echo', ServingStatus.SERVING)
  const lb = await startAdminBalancer({
    workers: 1,
    log: { accessLog: false },
    pools: {
      grpc: {
        protocol: 'h2c',
        backends: [{ id: 'h', url: health.url }, { id: 'plain', url: noHealth.url }],
        healthCheck: { interval: '200ms', healthyThreshold: 1, unhealthyThreshold: 1, grpc: { service: 'test.Echo' } },
        retries: { attempts: 1 },
      },
    },
  })
  t.after(() => lb.stop())

  await waitFor(() => health.asked.length >= 2, { timeoutMs: 10_000, message: 'gRPC health checks reach the server' })
  assert.ok(health.asked.every((s) => s === 'test.Echo'), `asked about ${JSON.stringify([...new Set(health.asked)])}`)
  await waitFor(async () => !(await isUp(lb, 'plain')), { timeoutMs: 10_000, message: 'a server without the health service goes down' })
  assert.equal(await isUp(lb, 'h'), true, 'SERVING is healthy')

  for (const status of [ServingStatus.NOT_SERVING, ServingStatus.UNKNOWN, undefined /* SERVICE_UNKNOWN */]) {
    if (status === undefined) health.statuses.delete('test.Echo')
    else health.statuses.set('test.Echo', status)
    await waitFor(async () => !(await isUp(lb, 'h')), { timeoutMs: 10_000, message: `status ${status ?? 'SERVICE_UNKNOWN'} takes the endpoint down` })
    health.statuses.set('test.Echo', ServingStatus.SERVING)
    await waitFor(() => isUp(lb, 'h'), { timeoutMs: 10_000, message: 'SERVING brings it back' })
  }
  const checks = (await lb.metrics()).sum('lb_health_checks_total', { pool: 'grpc', endpoint: 'h', result: 'failure' })
  assert.ok(checks >= 3, `failed checks counted (${checks})`)
})

test('gRPC health checks over TLS use the pool\'s upstreamTls: mTLS with the client certificate passes, another CA fails', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-grpc-health-tls-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await makeTestCa(dir, 'ca')
  await makeTestCa(dir, 'other-ca')
  await makeTestLeaf(dir, 'server', 'ca', 'backend.test', 'DNS:backend.test,IP:127.0.0.1', 'serverAuth')
  await makeTestLeaf(dir, 'client', 'ca', 'lb-client', 'DNS:lb-client', 'clientAuth')
  const file = (name: string): string => join(dir, name)
  // The server requires a client certificate signed by the CA.
  const health = await startGrpcHealthBackend(grpc.ServerCredentials.createSsl(readFileSync(file('ca.crt')), [{ cert_chain: readFileSync(file('server.crt')), private_key: readFileSync(file('server.key')) }], true))
  t.after(() => health.close())
  health.statuses.set('', ServingStatus.SERVING)
  // A 200 ms interval keeps the test short; the probe timeout stays generous, so an mTLS handshake slowed
  // by a loaded machine is not read as a failed check.
  const check = { interval: '200ms', timeout: '3s', healthyThreshold: 1, unhealthyThreshold: 1, grpc: {} }
  const lb = await startAdminBalancer({
    workers: 1,
    log: { accessLog: false },
    pools: {
      grpc: { protocol: 'h2', backends: [{ id: 'mtls', url: health.url }], upstreamTls: { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') }, healthCheck: check, retries: { attempts: 1 } },
      wrong: { protocol: 'h2', backends: [{ id: 'wrong-ca', url: health.url }], upstreamTls: { ca: file('other-ca.crt'), cert: file('client.crt'), key: file('client.key') }, healthCheck: check, retries: { attempts: 1 } },
    },
  })
  t.after(() => lb.stop())
  await waitFor(() => health.asked.length >= 3, { timeoutMs: 10_000, message: 'gRPC health checks over mTLS reach the server' })
  assert.ok(health.asked.every((s) => s === ''), 'service "" by default')
  await waitFor(async () => (await lb.metrics()).sum('lb_endpoint_up', { pool: 'wrong', endpoint: 'wrong-ca' }) === 0, { timeoutMs: 10_000, message: 'a backend not signed by the pool CA fails its checks' })
  assert.equal(await isUp(lb, 'mtls'), true, 'SERVING over verified mTLS is healthy')
})
