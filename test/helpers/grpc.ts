/**
 * A real gRPC service for tests, defined with `@grpc/grpc-js`'s generic client and raw Buffer messages
 * (no .proto files): `Unary` echoes with the backend's name, `ServerStream` sends N numbered messages,
 * `ClientStream` answers the count and bytes received, `Bidi` echoes each message as it arrives.
 */
import * as grpc from '@grpc/grpc-js'

const identity = (b: Buffer): Buffer => b

function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  }
}

/** The test service: four methods, one per kind of call. */
export const echoService = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition

/** The generic client constructor of {@link echoService}. */
export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo')

/** A running gRPC backend (cleartext HTTP/2). */
export interface GrpcBackend {
  readonly port: number
  readonly url: string
  /** Calls started on this backend. */
  calls: number
  /** Force-closes every call and the listener. */
  close(): Promise<void>
}

/**
 * Starts an h2c gRPC backend on 127.0.0.1:0 tagged `name`. `ServerStream` takes the message count as
 * decimal text and sends `name:i` (one every `streamIntervalMs` when set); `stallServerStream` makes it send half and then stop (a backend that
 * hangs, for kill tests).
 */
export async function startGrpcBackend(name: string, options: { stallServerStream?: boolean; streamIntervalMs?: number } = {}): Promise<GrpcBackend> {
  const server = new grpc.Server()
  const state = { calls: 0 }
  server.addService(echoService, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      state.calls++
      const deadline = call.metadata.get('x-sleep-ms')[0]
      const reply = (): void => cb(null, Buffer.concat([Buffer.from(`${name}:`), call.request]))
      if (deadline !== undefined) setTimeout(reply, Number(deadline))
      else reply()
    },
    ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      state.calls++
      const n = Number(call.request.toString())
      const stop = options.stallServerStream === true ? Math.floor(n / 2) : n
      let i = 0
      const interval = options.streamIntervalMs ?? 0
      if (interval > 0) {
        const timer = setInterval(() => {
          if (i < stop) call.write(Buffer.from(`${name}:${i++}`))
          if (i >= stop) {
            clearInterval(timer)
            if (stop === n) call.end()
          }
        }, interval)
        call.once('cancelled', () => clearInterval(timer))
        return
      }
      const writeSome = (): void => {
        while (i < stop) {
          const ok = call.write(Buffer.from(`${name}:${i++}`))
          if (!ok) {
            call.once('drain', writeSome)
            return
          }
        }
        if (stop === n) call.end()
      }
      writeSome()
    },
    ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      state.calls++
      let count = 0
      let bytes = 0
      call.on('data', (m: Buffer) => {
        count++
        bytes += m.length
      })
      call.on('end', () => cb(null, Buffer.from(`${name}:${count}:${bytes}`)))
    },
    Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      state.calls++
      call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from(`${name}:`), m])))
      call.on('end', () => call.end())
    },
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)))
  })
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get calls() {
      return state.calls
    },
    set calls(n: number) {
      state.calls = n
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown()
        resolve()
      }),
  }
}

/** Promise form of a unary call. */
export function unary(client: grpc.Client, payload: string, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    ;(client as unknown as Record<string, (req: Buffer, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void>)
      .Unary!(Buffer.from(payload), metadata, options, (err, res) => (err ? reject(err) : resolve((res as Buffer).toString())))
  })
}

/** Typed access to the streaming methods of a generic client. */
export function methods(client: grpc.Client): {
  ServerStream(req: Buffer, md?: grpc.Metadata, o?: grpc.CallOptions): grpc.ClientReadableStream<Buffer>
  ClientStream(cb: (e: grpc.ServiceError | null, r?: Buffer) => void): grpc.ClientWritableStream<Buffer>
  Bidi(): grpc.ClientDuplexStream<Buffer, Buffer>
} {
  return client as never
}

/** `grpc.health.v1` serving statuses (grpc/doc/health-checking.md). */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const

/** A running gRPC health server: `statuses` maps a service name ("" = the server) to its status. */
export interface GrpcHealthBackend {
  readonly url: string
  /** Status per service name; a name not listed answers SERVICE_UNKNOWN. */
  readonly statuses: Map<string, number>
  /** Service names asked about, in order. */
  readonly asked: string[]
  close(): void
}

/**
 * Starts a gRPC server implementing `grpc.health.v1.Health/Check` with grpc-js: h2c, or TLS with
 * `credentials` (then `url` is https://). Messages are encoded here by hand (the one-field messages of the
 * protocol), independently of the balancer's code.
 */
export async function startGrpcHealthBackend(credentials = grpc.ServerCredentials.createInsecure()): Promise<GrpcHealthBackend> {
  const server = new grpc.Server()
  const state = { url: '', statuses: new Map<string, number>(), asked: [] as string[], close: () => server.forceShutdown() }
  const check: grpc.MethodDefinition<Buffer, Buffer> = {
    path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
  }
  server.addService({ Check: check }, {
    Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      // HealthCheckRequest: absent (""), or field 1 (tag 0x0a) with a one-byte length (names under 128 bytes).
      const req = call.request
      const service = req.length === 0 ? '' : req.subarray(2, 2 + (req[1] as number)).toString()
      state.asked.push(service)
      const status = state.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN
      // HealthCheckResponse: field 1 varint (tag 0x08); proto3 leaves out the default 0 (UNKNOWN).
      cb(null, status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, status]))
    },
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p)))
  })
  state.url = `${credentials._isSecure() ? 'https' : 'http'}://127.0.0.1:${port}`
  return state
}
