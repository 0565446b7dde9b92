import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeHealthCheckResponse, encodeHealthCheckRequest } from './grpc-health-message.js'
import { outcomeOf } from './grpc-probe.js'

const frame = (body: number[]): Buffer => Buffer.from([0, 0, 0, 0, body.length, ...body])

describe('gRPC health messages', () => {
  it('encodes HealthCheckRequest: empty for "", field 1 with its length otherwise', () => {
    assert.deepEqual(encodeHealthCheckRequest(''), Buffer.from([0, 0, 0, 0, 0]))
    assert.deepEqual(encodeHealthCheckRequest('a.B'), frame([0x0a, 3, 0x61, 0x2e, 0x42]))
    const long = encodeHealthCheckRequest('x'.repeat(200))
    assert.deepEqual([...long.subarray(0, 8)], [0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01], 'a two-byte varint length')
  })
  it('decodes HealthCheckResponse status, skipping unknown fields; absent = UNKNOWN (0)', () => {
    assert.equal(decodeHealthCheckResponse(frame([0x08, 1])), 1)
    assert.equal(decodeHealthCheckResponse(frame([0x08, 2])), 2)
    assert.equal(decodeHealthCheckResponse(frame([])), 0)
    assert.equal(decodeHealthCheckResponse(frame([0x12, 2, 0x41, 0x42, 0x08, 1])), 1, 'an unknown length-delimited field first')
  })
  it('refuses what is not a framed message', () => {
    assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0])), undefined, 'short frame header')
    assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 4, 0x08, 1])), undefined, 'truncated message')
    assert.equal(decodeHealthCheckResponse(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])), undefined, 'compressed')
    assert.equal(decodeHealthCheckResponse(frame([0x08, 0x80])), undefined, 'varint cut short')
  })
  it('only HTTP 200, grpc-status 0 and SERVING is healthy', () => {
    assert.deepEqual(outcomeOf(200, '0', frame([0x08, 1])), { success: true, status: 200, reason: 'SERVING' })
    assert.equal(outcomeOf(200, '0', frame([0x08, 2])).reason, 'NOT_SERVING')
    assert.equal(outcomeOf(200, '0', frame([0x08, 3])).reason, 'SERVICE_UNKNOWN')
    assert.equal(outcomeOf(200, '0', frame([])).reason, 'UNKNOWN')
    assert.equal(outcomeOf(200, '12', Buffer.alloc(0)).reason, 'grpc-status 12')
    assert.equal(outcomeOf(200, undefined, frame([0x08, 1])).success, false)
    assert.equal(outcomeOf(503, '0', frame([0x08, 1])).reason, 'status 503')
  })
})
