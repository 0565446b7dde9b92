/**
 * `healthCheck.grpc`: active checks in the gRPC health protocol against a grpc-js health server, through
 * a real balancer process: SERVING keeps the endpoint up; NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN and a
 * server without the health service take it out; SERVING again brings it back. The service name asked
 * about is the configured one.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startAdminBalancer, type AdminBalancer } from '../helpers/admin.js'
import { waitFor } from '../helpers/index.js'
import { ServingStatus, startGrpcBackend, startGrpcHealthBackend } from '../helpers/grpc.js'

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
