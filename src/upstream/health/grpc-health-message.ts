/**
 * The two messages of the gRPC health protocol (grpc/doc/health-checking.md), encoded by hand: no
 * protobuf library for two one-field messages.
 * - `HealthCheckRequest { string service = 1; }`
 * - `HealthCheckResponse { ServingStatus status = 1; }` with UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3.
 * Both travel in gRPC's length-prefixed framing: a compressed flag byte (0) and a 4-byte big-endian length.
 */

/** `ServingStatus` names by value; other values are reported as `status N`. */
export const SERVING_STATUS_NAMES: readonly string[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN']

/** The `ServingStatus` value meaning healthy. */
export const SERVING = 1

/** A framed `HealthCheckRequest` for `service` (an empty name leaves the field out, as proto3 does). */
export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8')
  const body = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name])
  const frame = Buffer.alloc(5 + body.length)
  frame.writeUInt32BE(body.length, 1)
  body.copy(frame, 5)
  return frame
}

/**
 * The `status` of the first framed `HealthCheckResponse` in `data`: 0 (UNKNOWN) when the field is absent,
 * undefined when the bytes are not such a message (truncated, compressed, malformed).
 */
export function decodeHealthCheckResponse(data: Buffer): number | undefined {
  if (data.length < 5 || data[0] !== 0) return undefined
  const length = data.readUInt32BE(1)
  if (data.length < 5 + length) return undefined
  const message = data.subarray(5, 5 + length)
  let status = 0
  let at = 0
  while (at < message.length) {
    const key = readVarint(message, at)
    if (key === undefined) return undefined
    at = key.next
    const field = key.value >>> 3
    const wireType = key.value & 7
    if (wireType === 0) {
      const v = readVarint(message, at)
      if (v === undefined) return undefined
      at = v.next
      if (field === 1) status = v.value
    } else if (wireType === 2) {
      const len = readVarint(message, at)
      if (len === undefined || len.next + len.value > message.length) return undefined
      at = len.next + len.value
    } else if (wireType === 1 || wireType === 5) {
      at += wireType === 1 ? 8 : 4
      if (at > message.length) return undefined
    } else {
      return undefined
    }
  }
  return status
}

function varint(n: number): Buffer {
  const bytes: number[] = []
  let v = n
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  bytes.push(v)
  return Buffer.from(bytes)
}

/** A varint of at most 5 bytes (32 bits: enough for tags, enum values and our lengths). */
function readVarint(buf: Buffer, start: number): { value: number; next: number } | undefined {
  let value = 0
  for (let i = 0; i < 5 && start + i < buf.length; i++) {
    const b = buf[start + i] as number
    value += (b & 0x7f) * 2 ** (7 * i)
    if ((b & 0x80) === 0) return { value, next: start + i + 1 }
  }
  return undefined
}
