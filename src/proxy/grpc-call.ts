import type { ClientResponse } from './client-message.js'

/** gRPC timeout units (grpc/doc/PROTOCOL-HTTP2.md) in ms. */
const GRPC_TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 }

/** A `grpc-timeout` value in ms (`100m`, `5S`: at most 8 digits and a unit), or undefined ('' or malformed). */
export function grpcTimeoutMs(value: string): number | undefined {
  if (value === '') return undefined
  const m = /^(\d{1,8})([HMSmun])$/.exec(value)
  if (m === null) return undefined
  return Math.ceil(Number(m[1]) * (GRPC_TIMEOUT_UNIT_MS[m[2] as string] as number))
}

/** Passes the backend's trailers (gRPC's `grpc-status`, `grpc-message`) on to the client. */
export function forwardTrailers(res: ClientResponse, trailers: readonly string[]): void {
  if (res.addTrailers === undefined) return
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < trailers.length; i += 2) {
    const name = (trailers[i] as string).toLowerCase()
    const value = trailers[i + 1] as string
    fields[name] = fields[name] === undefined ? value : `${fields[name]}, ${value}`
  }
  res.addTrailers(fields)
}
