/**
 * Differential harness for the HTTP/1.1 listener: the same seeded random streams of pipelined requests go
 * through two balancers, one on the own listener and one on `node:http` (LB_HTTP1_SERVER=node), to one
 * logging backend. What each client receives and what the backend sees must be the same after
 * normalisation, except where a difference is deliberate (listed in DELIBERATE below, with its reason).
 *
 * A stream: requests (valid, invalid, with bodies, chunked, HTTP/1.0, Expect, unrouted) serialised,
 * split at random byte boundaries and written with small pauses; the client may stop reading for a while
 * (then resumes) and may half-close after its last byte. Used by `listener-diff.test.ts` (short, seeded)
 * and `bench/fuzz-listener.ts` (`npm run fuzz:listener`, long).
 */
import http from 'node:http'
import net from 'node:net'
import { poolConfig, startProxy, type InProcessProxy } from '../helpers/in-process.js'
import { seededRandom } from '../../src/core/index.js'

/**
 * Differences between the listeners that are deliberate, normalised away before comparing:
 * - header-name case and the order of the fields the listener adds itself (`Date`, `Connection`,
 *   `Transfer-Encoding`): node:http capitalises them and puts them elsewhere; names are case-insensitive
 *   and field order between different names carries no meaning (RFC 9110 5.3);
 * - `Keep-Alive: timeout=N` and `Connection: keep-alive` on HTTP/1.1 answers: node:http writes both, the own
 *   listener neither (persistence is the HTTP/1.1 default, RFC 9112 9.3; `Keep-Alive` is informational);
 *   whether the connection really stays open is compared (the answers that follow, and the close);
 * - `Date` values and generated request ids (time and randomness);
 * - the order in which the backend sees pipelined requests: node:http hands every pipelined request to the
 *   proxy at once (they reach the backend concurrently), the own listener one after another; the set of
 *   requests the backend sees is compared, not their order;
 * - requests pipelined behind one whose answer closes the connection for a reason node:http decides itself
 *   (an `Expect: 100-continue` request answered without 100, a client's `Connection: close`): node:http has
 *   already handed them to the proxy, which forwards them, so the backend sees requests whose answers the
 *   client never gets; the own listener never starts them. (Behind a refusal by the balancer, 4xx and
 *   close, neither listener forwards anything.) The backend must see every request through node:http that
 *   it sees through the own listener, and more only when the client got fewer answers than it sent;
 * - a connection reset: when the server closes after a refusal while the client is still sending, the
 *   client's kernel may answer with a reset and drop the last answer (timing, either listener). When one
 *   side was reset, its answers must be a prefix of the other side's;
 * - an optional `100 Continue`: for an `Expect: 100-continue` request parsed just as the response before it
 *   ends, the own listener starts it (and offers 100) as soon as that response ends, node:http only once
 *   its write completed, by which time the body may be in and no 100 is due. A 100 is optional (RFC 9110
 *   10.1.1: a server MAY omit it when the body arrives anyway), so the answers are compared a second time
 *   without interim 100 responses, and the streams agree when only those differ.
 */
export const DELIBERATE = ['header case and order of listener-added fields', 'Keep-Alive and Connection: keep-alive headers', 'requests behind an answer node:http closes itself (100-continue refused, Connection: close) reach the backend through node:http', 'Date and request ids', 'backend arrival order of pipelined requests', 'a reset may drop the last answer', 'an optional 100 Continue one listener sends and the other omits']

/** One generated stream. */
export interface Stream {
  id: string
  segments: Buffer[]
  /** Pause (ms) after each segment but the last. */
  pauses: number[]
  /** The client reads nothing until everything was sent, then waits this long before reading (0 = reads at once). */
  stopReadingMs: number
  halfClose: boolean
  /** Short description of the requests (for reports). */
  kinds: string[]
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T

function body(r: () => number, max: number): string {
  const n = Math.floor(r() * max)
  let s = ''
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + Math.floor(r() * 26))
  return s
}

function chunked(r: () => number, data: string): string {
  let out = ''
  let i = 0
  while (i < data.length) {
    const n = 1 + Math.floor(r() * Math.min(600, data.length - i))
    const ext = r() < 0.2 ? ';ext=1' : ''
    out += `${n.toString(16)}${ext}\r\n${data.slice(i, i + n)}\r\n`
    i += n
  }
  return `${out}0\r\n\r\n`
}

/** One request of a stream: its bytes and a short kind. */
function request(r: () => number, id: string, n: number): [string, string] {
  const path = `/r/${id}/${n}`
  const host = 'Host: t.example\r\n'
  const k = r()
  if (k < 0.2) return ['get', `GET ${path} HTTP/1.1\r\n${host}X-N: ${n}\r\n\r\n`]
  if (k < 0.3) return ['head', `HEAD ${path} HTTP/1.1\r\n${host}\r\n`]
  if (k < 0.45) {
    const b = body(r, 3000)
    return ['post-cl', `POST ${path} HTTP/1.1\r\n${host}Content-Length: ${b.length}\r\n\r\n${b}`]
  }
  if (k < 0.55) {
    const b = body(r, 3000)
    return ['post-chunked', `POST ${path} HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n${chunked(r, b)}`]
  }
  if (k < 0.6) return ['get-chunked-response', `GET ${path}/chunked HTTP/1.1\r\n${host}\r\n`]
  if (k < 0.65) return ['unrouted', `GET /nowhere/${id}/${n} HTTP/1.1\r\n${host}\r\n`]
  if (k < 0.68) return ['http10', `GET ${path} HTTP/1.0\r\n${host}\r\n`]
  if (k < 0.71) return ['close', `GET ${path} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`]
  if (k < 0.74) {
    const b = body(r, 200)
    return ['expect', `PUT ${path} HTTP/1.1\r\n${host}Expect: 100-continue\r\nContent-Length: ${b.length}\r\n\r\n${b}`]
  }
  if (k < 0.76) return ['no-host', `GET ${path} HTTP/1.1\r\n\r\n`]
  // Invalid ones: the parser or the request guard refuses them (400 and close).
  return pick(r, [
    ['bad-cl', `POST ${path} HTTP/1.1\r\n${host}Content-Length: x\r\n\r\n`],
    ['cl-te', `POST ${path} HTTP/1.1\r\n${host}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['dup-cl', `POST ${path} HTTP/1.1\r\n${host}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`],
    ['bad-chunk', `POST ${path} HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
    ['space-colon', `GET ${path} HTTP/1.1\r\n${host}X-A : b\r\n\r\n`],
    ['nul-value', `GET ${path} HTTP/1.1\r\n${host}X-A: a\0b\r\n\r\n`],
    ['bad-version', `GET ${path} HTTP/9.9\r\n${host}\r\n`],
    ['bad-method', `G@T ${path} HTTP/1.1\r\n${host}\r\n`],
    ['big-header', `GET ${path} HTTP/1.1\r\n${host}X-Big: ${'b'.repeat(20_000)}\r\n\r\n`],
  ] as const) as [string, string]
}

/** Stream number `index` of `seed`. */
export function makeStream(seed: number, index: number): Stream {
  // Seeded (mulberry32): the same seed gives the same streams on every run.
  const r = seededRandom(seed * 1_000_003 + index)
  const id = `${seed}-${index}`
  const count = 1 + Math.floor(r() * 6)
  let text = ''
  const kinds: string[] = []
  for (let i = 0; i < count; i++) {
    const [kind, bytes] = request(r, id, i)
    kinds.push(kind)
    text += bytes
  }
  const halfClose = r() < 0.15
  // Without a half-close the last request asks for the close, so that every stream has a definite end.
  if (!halfClose) {
    kinds.push('last-close')
    text += `GET /r/${id}/last HTTP/1.1\r\nHost: t.example\r\nConnection: close\r\n\r\n`
  }
  const bytes = Buffer.from(text, 'latin1')
  const segments: Buffer[] = []
  const pauses: number[] = []
  let at = 0
  while (at < bytes.length) {
    const n = r() < 0.3 ? bytes.length - at : 1 + Math.floor(r() * Math.min(bytes.length - at, r() < 0.5 ? 16 : 2000))
    segments.push(bytes.subarray(at, at + n))
    pauses.push(r() < 0.5 ? 0 : Math.floor(r() * 3))
    at += n
  }
  const stopReadingMs = r() < 0.1 ? 20 + Math.floor(r() * 60) : 0
  return { id, segments, pauses, stopReadingMs, halfClose, kinds }
}

/** What the backend saw, per stream id. */
export type BackendLog = Map<string, string[]>

/**
 * The logging backend: every request is recorded (method, target, headers, body) under its stream id,
 * and answered: `/chunked` with a chunked body, HEAD with a length, everything else echoes its body.
 */
export async function startLoggingBackend(): Promise<{ url: string; log: BackendLog; close(): void }> {
  const log: BackendLog = new Map()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const id = /^\/r\/([^/]+)\//.exec(req.url ?? '')?.[1] ?? '?'
      const headers: string[] = []
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = (req.rawHeaders[i] as string).toLowerCase()
        const value = name === 'x-request-id' ? '<id>' : (req.rawHeaders[i + 1] as string)
        headers.push(`${name}: ${value}`)
      }
      const b = Buffer.concat(chunks).toString('latin1')
      let list = log.get(id)
      if (list === undefined) log.set(id, (list = []))
      list.push(`${req.method ?? ''} ${req.url ?? ''} [${headers.join(' | ')}] ${b.length}:${b}`)
      if ((req.url ?? '').endsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('part one;')
        res.end('part two')
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(b.length), 'x-method': req.method ?? '' })
        res.end(b)
      }
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    log,
    close: () => {
      server.closeAllConnections()
      server.close()
    },
  }
}

/**
 * A balancer on the given listener over `backendUrl`: `/r/` is routed, the rest is 404. `own` and `node`
 * forward through undici (`LB_FAST_PATH=off`), so that they differ in the listener only; `fast` is the own
 * listener with the fast path (own upstream HTTP/1.1 connections), compared against `node` (node:http + undici).
 */
export async function startListener(mode: 'own' | 'node' | 'fast', backendUrl: string): Promise<InProcessProxy> {
  const before = process.env.LB_HTTP1_SERVER
  const beforeFast = process.env.LB_FAST_PATH
  if (mode === 'node') process.env.LB_HTTP1_SERVER = 'node'
  else delete process.env.LB_HTTP1_SERVER
  process.env.LB_FAST_PATH = mode === 'fast' ? 'on' : 'off'
  try {
    return await startProxy(
      poolConfig([backendUrl], {
        routes: [{ match: { pathPrefix: '/r/' }, pool: 'main' }],
        log: { level: 'silent', accessLog: false },
      }),
    )
  } finally {
    if (before === undefined) delete process.env.LB_HTTP1_SERVER
    else process.env.LB_HTTP1_SERVER = before
    if (beforeFast === undefined) delete process.env.LB_FAST_PATH
    else process.env.LB_FAST_PATH = beforeFast
  }
}

/** Sends `stream` to `port`; resolves with everything received until the server closed (or the deadline). */
export function runStream(port: number, stream: Stream, deadlineMs = 3000): Promise<{ bytes: Buffer; closed: boolean; reset: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let done = false
    let reset = false
    const finish = (closed: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ bytes: Buffer.concat(chunks), closed, reset })
    }
    const timer = setTimeout(() => finish(false), deadlineMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => {
      reset = true
      finish(true)
    })
    socket.on('close', () => finish(true))
    if (stream.stopReadingMs > 0) socket.pause()
    socket.on('connect', () => {
      void (async () => {
        for (let i = 0; i < stream.segments.length; i++) {
          if (socket.destroyed) return
          socket.write(stream.segments[i] as Buffer)
          const pause = stream.pauses[i] ?? 0
          if (pause > 0 && i < stream.segments.length - 1) await new Promise((r) => setTimeout(r, pause))
        }
        if (stream.halfClose && !socket.destroyed) socket.end()
        if (stream.stopReadingMs > 0) setTimeout(() => socket.resume(), stream.stopReadingMs)
      })()
    })
  })
}

/**
 * The received bytes with the deliberate differences normalised away (see {@link DELIBERATE}). Responses
 * are split at their status lines (generated bodies are lower-case letters or JSON, never `HTTP/1.`).
 */
export function normaliseResponses(bytes: Buffer): string {
  const text = bytes.toString('latin1')
  const starts: number[] = []
  const re = /HTTP\/1\.[01] \d{3} /g
  for (let m = re.exec(text); m !== null; m = re.exec(text)) starts.push(m.index)
  const out: string[] = []
  if (starts.length === 0 || starts[0] !== 0) out.push(`junk ${JSON.stringify(text.slice(0, starts[0] ?? text.length))}`)
  for (let i = 0; i < starts.length; i++) {
    const piece = text.slice(starts[i], starts[i + 1] ?? text.length)
    const end = piece.indexOf('\r\n\r\n')
    const head = end < 0 ? piece : piece.slice(0, end)
    const rest = end < 0 ? '' : piece.slice(end + 4)
    const lines = head.split('\r\n')
    const status = lines.shift() as string
    const fields = lines
      .map((l) => {
        const c = l.indexOf(':')
        const name = l.slice(0, c).toLowerCase()
        let value = l.slice(c + 1).trim()
        if (name === 'date') value = '<date>'
        if (name === 'x-request-id') value = '<id>'
        return `${name}: ${value}`
      })
      .filter((l) => !l.startsWith('keep-alive:') && !(l === 'connection: keep-alive' && status.startsWith('HTTP/1.1')))
      .sort()
    out.push(`${status}${end < 0 ? ' (head cut)' : ''}\n  ${fields.join('\n  ')}\n  body ${JSON.stringify(rest.replace(/"requestId":"[^"]*"/g, '"requestId":"<id>"'))}`)
  }
  return out.join('\n')
}

/** Normalised answers without interim `100 Continue` responses (see {@link DELIBERATE}). */
function withoutContinue(normalised: string): string {
  return normalised
    .split(/\n(?=HTTP\/)/)
    .filter((x) => !/^HTTP\/1\.1 100 /.test(x))
    .join('\n')
}

/** One stream through both listeners: undefined when they agree, else the first difference. */
export async function compareStream(own: number, node: number, backend: { log: BackendLog }, stream: Stream): Promise<string | undefined> {
  const a = await runStream(own, stream)
  const ownLog = (backend.log.get(stream.id) ?? []).slice()
  backend.log.delete(stream.id)
  const b = await runStream(node, stream)
  const nodeLog = (backend.log.get(stream.id) ?? []).slice()
  backend.log.delete(stream.id)
  const ra = normaliseResponses(a.bytes)
  const rb = normaliseResponses(b.bytes)
  if (ra !== rb && (a.reset || b.reset)) {
    const split = (s: string): string[] => s.split(/\n(?=HTTP\/)/).filter((x) => x !== 'junk ""')
    const [short, long] = a.reset ? [split(ra), split(rb)] : [split(rb), split(ra)]
    if (short.every((x, i) => x === long[i])) return undefined
  }
  if (ra !== rb && withoutContinue(ra) === withoutContinue(rb)) return undefined
  if (ra !== rb) return `client bytes differ (${stream.kinds.join(',')}):\n--- own (closed=${a.closed})\n${ra}\n--- node (closed=${b.closed})\n${rb}`
  if (a.closed !== b.closed) return `closed differs: own ${a.closed}, node ${b.closed} (${stream.kinds.join(',')})`
  const answers = (ra.match(/^HTTP\/1\.[01] [2-5]\d\d /gm) ?? []).length
  const extra = nodeLog.slice()
  for (const line of ownLog) {
    const i = extra.indexOf(line)
    if (i < 0) return `the backend saw a request through the own listener only (${stream.kinds.join(',')}):\n${line}\n--- node\n${nodeLog.sort().join('\n')}`
    extra.splice(i, 1)
  }
  if (extra.length > 0 && answers >= stream.kinds.length) return `the backend saw requests through node:http only (${stream.kinds.join(',')}):\n${extra.join('\n')}`
  return undefined
}
