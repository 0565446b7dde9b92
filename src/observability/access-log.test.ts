import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { LineBatcher } from './access-log.js'

function sink(): { chunks: string[]; write(c: string): boolean } {
  const chunks: string[] = []
  return { chunks, write: (c) => (chunks.push(c), true) }
}

test('lines are passed on in one write once the batch reaches its size, in order', () => {
  const s = sink()
  const b = new LineBatcher(s, 10, 60_000)
  b.write('aaaa\n')
  assert.deepEqual(s.chunks, [])
  b.write('bbbbb\n')
  assert.deepEqual(s.chunks, ['aaaa\nbbbbb\n'])
  b.flush()
  assert.deepEqual(s.chunks, ['aaaa\nbbbbb\n'], 'nothing left to flush')
})

test('a lone line is written after the delay; flush() writes what waits at once', async () => {
  const s = sink()
  const b = new LineBatcher(s, 1 << 20, 30)
  b.write('one\n')
  await sleep(300)
  assert.deepEqual(s.chunks, ['one\n'])
  b.write('two\n')
  b.write('three\n')
  b.flush()
  assert.deepEqual(s.chunks, ['one\n', 'two\nthree\n'])
})

test('formatAccessLine writes exactly the line pino wrote for the same request', async () => {
  const { default: pino } = await import('pino')
  const { PINO_BASE_OPTIONS } = await import('./logger.js')
  const { formatAccessLine } = await import('./access-log.js')
  const events = [
    { requestId: 'abc', clientIp: '127.0.0.1', method: 'GET', host: 'h:1', path: '/x?y=1', route: 'r', pool: 'p', endpoint: '127.0.0.1:1', status: 200, bytesIn: 0, bytesOut: 2, durationMs: 1.23456, upstreamMs: 0.5, retries: 0, error: '', decision: undefined },
    { requestId: 'id', clientIp: '::1', method: 'POST', host: 'é"\\\u0001', path: '/ü\t', route: '', pool: '', endpoint: '', status: 502, bytesIn: 10, bytesOut: 0, durationMs: 3, upstreamMs: -1, retries: 2, error: 'LB_ERR_CONNECT', decision: 'try 1: a -> connect' },
  ]
  for (const e of events) {
    let line = ''
    const logger = pino({ ...PINO_BASE_OPTIONS, level: 'info', timestamp: () => ',"time":1700000000000' }, { write: (s: string) => void (line = s) }).child({ worker: 42 })
    logger.info(
      {
        reqId: e.requestId, client: e.clientIp, method: e.method, host: e.host, path: e.path, route: e.route, pool: e.pool, endpoint: e.endpoint,
        status: e.status, bytesIn: e.bytesIn, bytesOut: e.bytesOut, durationMs: Math.round(e.durationMs * 1000) / 1000,
        upstreamMs: e.upstreamMs < 0 ? -1 : Math.round(e.upstreamMs * 1000) / 1000, retries: e.retries, error: e.error === '' ? undefined : e.error, decision: e.decision,
      },
      'request',
    )
    assert.equal(formatAccessLine(e, 42, 1700000000000), line)
  }
})

test('millis3 prints what String() printed for the value rounded to 3 decimals', async () => {
  const { millis3 } = await import('./access-log.js')
  const values = [0, 0.0004, 0.0005, 1, 1.5, 1.05, 1.005, 2.0999, 24.91634, 999.9996, 1e-7, 123456.789, 60_000.01]
  for (let i = 0; i < 20_000; i++) values.push(Math.random() * (i % 2 ? 50 : 120_000))
  for (const v of values) assert.equal(millis3(v), String(Math.round(v * 1000) / 1000), `value ${v}`)
})
