/**
 * Grammar-aware request generator of the fuzzer. Every request is built from the HTTP/1.1 grammar (RFC 9112,
 * RFC 9110) and then maybe mutated; the generator knows what a strict reader makes of the bytes it wrote:
 * - `valid`: well-formed; must be forwarded exactly (method, target, body), or refused with a 4xx;
 * - `lenient`: tolerated forms (obs-text, obs-fold, unknown methods, chunk extensions, bodies on GET, ...):
 *   forwarded with exactly the framing meant, or refused with a 4xx and close;
 * - `invalid`: malformed or ambiguous (framing conflicts, bad chunking, bad syntax, limits): 4xx and close,
 *   and nothing of it (nor anything after it on the connection) may reach a backend as a request;
 * - `noroute`: valid, but no route matches: 404, connection kept.
 * Each request carries a unique marker in its query (`m=<conn>x<index>`); markers hidden in bodies or behind
 * an invalid request (`...S`) are smuggling probes and must never be seen by a backend.
 */
import type { Rng } from './prng.js'
import { encodeLatin1OrUtf8, type CorpusSeed } from './corpus.js'

/** What a strict reading of the request's bytes means for the balancer. */
export type Expect = 'valid' | 'lenient' | 'invalid' | 'noroute'

/** One request as generated, with what a backend must (or must not) see of it. */
export interface PlannedRequest {
  marker: string
  bytes: Buffer
  expect: Expect
  /** Method the backend must see. */
  method: string
  /** Exact request target the backend must see; undefined: only the marker is checked (forms a proxy may rewrite). */
  target: string | undefined
  /** Body the backend must see (after de-chunking). */
  body: Buffer
  isHead: boolean
  /** The request ends the connection by itself (`Connection: close`): always the last one. */
  closes: boolean
  /** The server may close after answering it (HTTP/1.0): always the last one. */
  mayClose: boolean
  /** The fault (invalid) or the tolerated form (lenient) lies in the body: its head may have been forwarded, then aborted. */
  headMayReach: boolean
  /** `invalid` only: the fault concerns framing (a forward would be a desync), not only conformance. */
  framing: boolean
  /** Markers hidden inside these bytes: never to be seen by a backend. */
  smuggled: string[]
  /** Name of the grammar branch and mutation, for the report. */
  mutation: string
}

/** One client connection: its requests, how they are written, and bytes after the last one. */
export interface ConnectionPlan {
  id: number
  requests: PlannedRequest[]
  /** Written after the last request (behind an invalid one: a smuggling probe); never answered. */
  tail: Buffer
  /** Requests per write batch (pipelining depth); the next batch waits for the answers of the previous one. */
  batches: number[]
  /** Most pieces a batch's bytes are split into, and the chance of a pause between two pieces. */
  maxPieces: number
  pauseChance: number
  /** Longest pause between pieces, ms. */
  maxPauseMs: number
}

/** Knobs of {@link generateConnection}. */
export interface GenerateOptions {
  /** Most requests on one connection. Default 48. */
  maxRequestsPerConnection?: number
  /** Corpus seeds mixed in (as the last request of some connections). */
  corpus?: readonly CorpusSeed[]
}

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
const ALNUM = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
const UNRESERVED = ALNUM + '-._~'
const PCHAR = UNRESERVED + "!$&'()*+,;=:@"
const VCHAR = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join('')
const HOST = '127.0.0.1'
const CRLF = '\r\n'

/** Marker of request `index` on connection `conn`. */
export function markerOf(conn: number, index: number): string {
  return `${conn.toString(36)}x${index.toString(36)}`
}

/** The marker in a request target, or undefined. */
export function markerIn(target: string): string | undefined {
  const m = /[?&]m=([0-9a-z]+x[0-9a-z]+S?)(?![0-9a-zA-Z])/.exec(target)
  return m?.[1]
}

/** Parses a marker back into connection id and request index (smuggled probes flagged). */
export function parseMarker(marker: string): { conn: number; index: number; smuggled: boolean } | undefined {
  const m = /^([0-9a-z]+)x([0-9a-z]+)(S?)$/.exec(marker)
  if (m === null) return undefined
  return { conn: parseInt(m[1] as string, 36), index: parseInt(m[2] as string, 36), smuggled: m[3] === 'S' }
}

interface Head {
  method: string
  target: string
  version: string
  headers: Array<[string, string]>
  /** Raw header lines inserted verbatim (already with their own separator). */
  raw: string[]
  eol: string
}

function serializeHead(h: Head): string {
  let s = `${h.method} ${h.target} ${h.version}${h.eol}`
  for (const [n, v] of h.headers) s += `${n}:${v}${h.eol}`
  for (const line of h.raw) s += line + h.eol
  return s + h.eol
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1')

/** A request that smuggling would reveal: if a backend ever sees `marker`, framing was read two ways. */
function probe(marker: string): string {
  return `GET /f/probe?m=${marker} HTTP/1.1${CRLF}Host: ${HOST}${CRLF}Content-Length: 0${CRLF}${CRLF}`
}

function randomBody(rng: Rng, smuggleMarker: string): { body: Buffer; smuggled: string[] } {
  const r = rng.next()
  const n = r < 0.7 ? rng.int(65) : r < 0.96 ? rng.range(65, 4096) : rng.range(4097, 65536)
  const kind = rng.int(4)
  if (kind === 0 && n > 0) {
    // Bytes a careless reader would take as the next request.
    const text = `0${CRLF}${CRLF}${probe(smuggleMarker)}`
    return { body: latin1(text + 'x'.repeat(Math.max(0, n - text.length))), smuggled: [smuggleMarker] }
  }
  const body = Buffer.allocUnsafe(n)
  if (kind === 1) for (let i = 0; i < n; i++) body[i] = rng.int(256)
  else for (let i = 0; i < n; i++) body[i] = ALNUM.charCodeAt(rng.int(ALNUM.length))
  return { body, smuggled: [] }
}

function caseVariant(rng: Rng, name: string): string {
  switch (rng.int(4)) {
    case 0: return name.toLowerCase()
    case 1: return name.toUpperCase()
    case 2: return name
    default: return name.split('').map((c) => (rng.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join('')
  }
}

/** `: value`, `:value`, `:\tvalue  ` — all valid OWS placements. */
function ows(rng: Rng, value: string): string {
  return rng.pick([' ', '', '\t', ' '])  + value + rng.pick(['', '', ' ', '\t'])
}

function chunked(rng: Rng, body: Buffer, opts: { ext?: () => string; trailer?: string; sizeOf?: (n: number) => string }): Buffer {
  const parts: Buffer[] = []
  let at = 0
  const pieces = body.length === 0 ? 0 : rng.range(1, Math.min(5, body.length))
  for (let p = 0; p < pieces; p++) {
    const len = p === pieces - 1 ? body.length - at : rng.range(1, body.length - at - (pieces - p - 1))
    const hex = opts.sizeOf ? opts.sizeOf(len) : (rng.chance(0.5) ? len.toString(16) : len.toString(16).toUpperCase())
    parts.push(latin1(`${hex}${opts.ext?.() ?? ''}${CRLF}`), body.subarray(at, at + len), latin1(CRLF))
    at += len
  }
  parts.push(latin1(`${rng.pick(['0', '0', '00', '000'])}${opts.ext?.() ?? ''}${CRLF}${opts.trailer ?? ''}${CRLF}`))
  return Buffer.concat(parts)
}

/** State while one request is being built. */
interface Draft {
  head: Head
  body: Buffer
  /** Bytes of the body as sent (framing included). */
  wire: Buffer
  framing: 'none' | 'length' | 'chunked'
  req: PlannedRequest
}

function baseDraft(rng: Rng, conn: number, index: number, expect: 'valid' | 'noroute'): Draft {
  const marker = markerOf(conn, index)
  const methods = expect === 'noroute' ? ['GET', 'HEAD', 'POST'] : ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']
  const method = rng.pick(methods)
  const segs = Array.from({ length: rng.range(1, 3) }, () => {
    const s = rng.string(PCHAR, rng.range(1, 10))
    return /^\.+$/.test(s) ? s + 'a' : s
  })
  if (rng.chance(0.05)) segs.push('a%20b')
  let target = `/${expect === 'noroute' ? 'n' : 'f'}/${segs.join('/')}?m=${marker}`
  if (rng.chance(0.3)) target += `&q=${rng.string(UNRESERVED, rng.range(0, 20))}`
  const headers: Array<[string, string]> = []
  const extra = rng.chance(0.7) ? rng.int(4) : rng.int(12)
  for (let i = 0; i < extra; i++) {
    const name = 'x-' + rng.string(TCHAR, rng.range(1, 12))
    let value = rng.string(VCHAR + '  \t', rng.range(0, 40)).trim()
    if (rng.chance(0.02)) value = ''
    headers.push([name, ows(rng, value)])
  }
  headers.splice(rng.int(headers.length + 1), 0, [caseVariant(rng, 'Host'), ows(rng, HOST)])
  const smuggle = `${marker}S`
  const hasBody = ['POST', 'PUT', 'PATCH'].includes(method)
  const { body, smuggled } = hasBody ? randomBody(rng, smuggle) : { body: Buffer.alloc(0), smuggled: [] as string[] }
  const d: Draft = {
    head: { method, target, version: 'HTTP/1.1', headers, raw: [], eol: CRLF },
    body,
    wire: Buffer.alloc(0),
    framing: 'none',
    req: {
      marker, bytes: Buffer.alloc(0), expect, method, target, body, isHead: method === 'HEAD', closes: false, mayClose: false,
      headMayReach: false, framing: false, smuggled, mutation: expect,
    },
  }
  if (hasBody) {
    if (body.length > 0 || rng.chance(0.5)) frameWithLength(rng, d)
    if (rng.chance(0.35)) frameChunked(rng, d)
    if (rng.chance(0.05) && body.length > 0) d.head.headers.push(['Expect', ' 100-continue'])
  } else if (method === 'DELETE' && rng.chance(0.2)) {
    frameWithLength(rng, d)
  }
  return d
}

function frameWithLength(rng: Rng, d: Draft): void {
  d.head.headers = d.head.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n))
  const value = ows(rng, String(d.body.length))
  d.head.headers.splice(rng.int(d.head.headers.length + 1), 0, [caseVariant(rng, 'Content-Length'), value])
  labelTrailingTab(d, value)
  d.wire = d.body
  d.framing = 'length'
}

function frameChunked(rng: Rng, d: Draft, opts: Parameters<typeof chunked>[2] = {}): void {
  d.head.headers = d.head.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n))
  const value = ows(rng, caseVariant(rng, 'chunked'))
  d.head.headers.splice(rng.int(d.head.headers.length + 1), 0, [caseVariant(rng, 'Transfer-Encoding'), value])
  labelTrailingTab(d, value)
  d.wire = chunked(rng, d.body, opts)
  d.framing = 'chunked'
}

/**
 * A framing field ending in HTAB is valid OWS (RFC 9110 5.6.3), but llhttp in strict mode refuses it
 * (`HPE_INVALID_CONTENT_LENGTH`, and `chunked\t` is not `chunked` to it), in `node:http` and in the
 * balancer's own listener alike: refusing framing one is unsure of is safe, so it is a tolerated form
 * (forwarded exactly, or refused with 400 and close), counted apart.
 */
function labelTrailingTab(d: Draft, value: string): void {
  if (!value.endsWith('\t') || (d.req.expect !== 'valid' && d.req.expect !== 'noroute')) return
  d.req.expect = 'lenient'
  d.req.mutation = 'framing-trailing-htab'
}

function finish(d: Draft): PlannedRequest {
  // A request no route matches is answered 404 at once, from its head; llhttp checks Transfer-Encoding
  // only after it handed the head over, so that 404 goes out and the refusal is the close that follows
  // (one answer for the request, then nothing: the bytes after a framing it cannot read are never parsed).
  if (d.req.mutation === 'framing-trailing-htab' && d.head.target.startsWith('/n/') &&
    d.head.headers.some(([n, v]) => /^transfer-encoding$/i.test(n) && v.endsWith('\t'))) d.req.mayClose = true
  d.req.bytes = Buffer.concat([latin1(serializeHead(d.head)), d.wire])
  return d.req
}

const BODY_LEVEL = new Set(['chunk-extensions', 'chunk-ext-empty', 'trailers', 'chunk-size-leading-zeros', 'te-ows-case', 'http10-te'])

/** Tolerated forms: forwarded exactly as framed, or refused (4xx and close). */
const LENIENT: Array<[string, (rng: Rng, d: Draft) => void]> = [
  ['obs-text-value', (rng, d) => d.head.headers.push(['x-obs', ' a' + String.fromCharCode(rng.range(0x80, 0xff)) + 'b'])],
  ['obs-fold', (rng, d) => d.head.raw.push(`x-fold: a${CRLF}${rng.pick([' ', '\t'])}b`)],
  ['unknown-method', (rng, d) => {
    d.head.method = rng.pick(['PROPFIND', 'PURGE', 'MKCOL', 'SEARCH', 'QUERY', 'FUZZ', 'get', 'Get', 'M-SEARCH', 'LINK'])
    d.req.method = d.head.method
    d.req.isHead = false
  }],
  ['absolute-form', (_rng, d) => {
    d.head.target = `http://${HOST}${d.head.target}`
    d.req.target = undefined
  }],
  ['path-forms', (rng, d) => {
    d.head.target = d.head.target.replace('/f/', rng.pick(['/f/a/../', '/f//', '/f/./', '/f/%41/', '/f/a%2Fb/', '/f/a%5cb/', '/f/%2e%2e/', '/f/\\/']))
    d.req.target = undefined
  }],
  ['fragment', (_rng, d) => {
    d.head.target += '#frag'
    d.req.target = undefined
  }],
  ['http10-keepalive', (_rng, d) => {
    d.head.version = 'HTTP/1.0'
    d.head.headers.push(['Connection', ' keep-alive'])
    d.req.mayClose = true
  }],
  ['length-leading-zeros', (rng, d) => {
    if (d.framing !== 'length') frameWithLength(rng, d)
    const h = d.head.headers.find(([n]) => /^content-length$/i.test(n))
    if (h) h[1] = ' 000' + String(d.body.length)
  }],
  ['chunk-extensions', (rng, d) => frameChunked(rng, d, { ext: () => rng.pick([';a=b', ';a="q d"', ';a', '; a=b', ';a=b;c=d', ';x="\\""']) })],
  // An extension with an empty name or value (`5;=x`, `5;a=`) breaks the chunk-ext grammar of RFC 9112 7.1.1
  // but not the framing: the size before `;` and the CRLF after it are where a strict reader finds them, and
  // recipients ignore extensions they do not know. llhttp accepts it (as nginx and HAProxy do), and the
  // balancer re-frames every chunked body it forwards, so no backend ever sees the extension to read it
  // differently: tolerated, not a smuggling vector.
  ['chunk-ext-empty', (rng, d) => frameChunked(rng, d, { ext: () => rng.pick([';=x', ';a=', ';a=b;=c']) })],
  ['trailers', (rng, d) => frameChunked(rng, d, { trailer: `x-trailer: ${rng.string(ALNUM, 5)}${CRLF}` })],
  ['chunk-size-leading-zeros', (rng, d) => frameChunked(rng, d, { sizeOf: (n) => '000' + n.toString(16) })],
  ['te-ows-case', (rng, d) => {
    frameChunked(rng, d)
    const h = d.head.headers.find(([n]) => /^transfer-encoding$/i.test(n))
    if (h) h[1] = rng.pick(['\t chunked \t', ' CHUNKED', 'Chunked  '])
  }],
  ['get-with-body', (rng, d) => {
    d.head.method = rng.pick(['GET', 'HEAD', 'DELETE', 'OPTIONS'])
    d.req.method = d.head.method
    d.req.isHead = d.head.method === 'HEAD'
    d.body = latin1(rng.string(ALNUM, rng.range(1, 64)))
    d.req.body = d.body
    if (rng.chance(0.5)) frameWithLength(rng, d)
    else frameChunked(rng, d)
  }],
  ['bare-lf', (_rng, d) => {
    d.head.eol = '\n'
  }],
  ['long-value', (rng, d) => d.head.headers.push(['x-long', ' ' + rng.string(ALNUM, rng.range(2000, 12000))])],
  ['many-headers', (rng, d) => {
    const n = rng.range(40, 97)
    for (let i = 0; i < n; i++) d.head.headers.push([`x-h${i}`, ` ${i}`])
  }],
  ['odd-tchars', (rng, d) => d.head.headers.push([rng.string("!#$%&'*+-.^_`|~", rng.range(1, 6)) + 'x', ' v'])],
  ['http10-te', (rng, d) => {
    d.head.version = 'HTTP/1.0'
    if (d.framing !== 'chunked') {
      d.body = latin1(rng.string(ALNUM, rng.range(1, 40)))
      d.req.body = d.body
    }
    frameChunked(rng, d)
    d.req.closes = true
  }],
  ['request-line-extra-space', (rng, d) => {
    // RFC 9112 3: recipients MAY parse the request-line on whitespace-delimited word boundaries.
    if (rng.chance(0.5)) d.head.method += ' '
    else d.head.version = ' ' + d.head.version
  }],
  ['leading-whitespace-line', (_rng, d) => {
    // RFC 9112 2.2: whitespace-preceded line after the start-line: reject, or ignore that line.
    d.head.headers.unshift([' x-ws', ' v'])
  }],
]

/** Malformed or ambiguous: 4xx and close, nothing forwarded. `framing`: a forward would be a desync. */
const INVALID: Array<[string, boolean, (rng: Rng, d: Draft) => void]> = [
  ['cl-and-te', true, (rng, d) => {
    // CL.TE / TE.CL: the two readings end the body at different bytes; the probe sits in between.
    const inner = latin1(`0${CRLF}${CRLF}${probe(`${d.req.marker}S`)}`)
    d.head.method = 'POST'
    const cl: [string, string] = [caseVariant(rng, 'Content-Length'), ` ${rng.chance(0.5) ? inner.length : 4}`]
    const te: [string, string] = [caseVariant(rng, 'Transfer-Encoding'), ' ' + caseVariant(rng, 'chunked')]
    d.head.headers = d.head.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n))
    d.head.headers.push(...(rng.chance(0.5) ? [cl, te] : [te, cl]))
    d.wire = inner
    d.req.smuggled.push(`${d.req.marker}S`)
  }],
  ['duplicate-cl', true, (rng, d) => {
    const n = d.body.length
    frameWithLength(rng, d)
    d.head.headers.push(['Content-Length', ` ${rng.pick([n, n + 1, 0])}`])
  }],
  ['cl-list', true, (rng, d) => {
    frameWithLength(rng, d)
    const h = d.head.headers.find(([n]) => /^content-length$/i.test(n))
    if (h) h[1] = ` ${d.body.length}, ${d.body.length}`
  }],
  ['bad-cl-value', true, (rng, d) => {
    frameWithLength(rng, d)
    const n = d.body.length
    const h = d.head.headers.find(([x]) => /^content-length$/i.test(x))
    if (h) h[1] = ' ' + rng.pick([`+${n}`, `-${n}`, `${n}a`, `0x${n.toString(16)}`, '', `${n} ${n}`, '1e1', '99999999999999999999999', `${n}\x0b`, `"${n}"`])
  }],
  ['bad-te-value', true, (rng, d) => {
    frameChunked(rng, d)
    const h = d.head.headers.find(([x]) => /^transfer-encoding$/i.test(x))
    if (h) h[1] = ' ' + rng.pick(['xchunked', 'chunkedx', 'chunked, chunked', 'chunked, gzip', 'gzip', '\x0bchunked', 'chunked\x00', '"chunked"', 'chunked;q=0.5', 'identity'])
  }],
  ['te-name-space', true, (rng, d) => {
    frameChunked(rng, d)
    const h = d.head.headers.find(([x]) => /^transfer-encoding$/i.test(x))
    if (h) h[0] = h[0] + rng.pick([' ', '\t'])
    d.head.headers.push(['Content-Length', ` ${d.wire.length}`])
  }],
  ['cl-name-space', true, (rng, d) => {
    frameWithLength(rng, d)
    const h = d.head.headers.find(([x]) => /^content-length$/i.test(x))
    if (h) h[0] = h[0] + ' '
  }],
  ['cl-obs-fold', true, (rng, d) => {
    frameWithLength(rng, d)
    d.head.headers = d.head.headers.filter(([x]) => !/^content-length$/i.test(x))
    d.head.raw.push(`Content-Length: ${d.body.length}${CRLF} ${rng.int(9)}`)
  }],
  ['bad-header-name', false, (rng, d) => d.head.headers.push([rng.pick(['x y', 'x(y)', 'x"y', '\x01x', 'x\x7f', '', 'x/y', 'x@y', 'x\\y', 'é']), ' v'])],
  ['bad-header-value', false, (rng, d) => d.head.headers.push(['x-bad', ' a' + rng.pick(['\x00', '\x01', '\x7f', '\rb', '\x1b', '\x08']) + 'b'])],
  ['bad-request-line', true, (rng, d) => {
    switch (rng.range(1, 8)) {
      case 1: d.head.target = d.head.target.replace('/f/', '/f /'); break
      case 2: d.head.version = rng.pick(['http/1.1', 'HTTP/2.0', 'HTTP/11', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/1.1x', 'HTTP/3.0']); break
      case 3: d.head.version = ''; break
      case 4: d.head.target = d.head.target.replace('/f/', '/f/\x01'); break
      case 5: d.head.target = d.head.target.replace('/f/', '/f/\xff'); break
      case 6: d.head.method = '\tGET'; break
      case 7: d.head.method = 'GE(T'; break
      default: d.head.target = d.head.target.replace('/f/', '/f/\x7f')
    }
  }],
  ['bare-cr', true, (_rng, d) => {
    d.head.eol = '\r'
  }],
  ['missing-host', false, (_rng, d) => {
    d.head.headers = d.head.headers.filter(([n]) => !/^host$/i.test(n))
  }],
  ['duplicate-host', false, (rng, d) => d.head.headers.push(['Host', ` ${rng.pick([HOST, 'other.example'])}`])],
  ['url-too-long', false, (rng, d) => {
    d.head.target += '&z=' + rng.string(ALNUM, rng.range(8300, 9000))
  }],
  ['head-too-large', false, (rng, d) => {
    for (let i = 0; i < 3; i++) d.head.headers.push([`x-big${i}`, ' ' + rng.string(ALNUM, 6000)])
  }],
  ['too-many-headers', false, (rng, d) => {
    const n = rng.range(101, 140)
    for (let i = 0; i < n; i++) d.head.headers.push([`x-n${i}`, ' v'])
  }],
]

/**
 * Faults inside a chunked body: the head is sound (and may have been forwarded), the body is not. All but
 * `chunk-bad-ext` make the chunk boundaries unreadable; a bad extension leaves them where they are (a reader
 * that skips extensions to the CRLF frames it as a strict one does), so accepting it is no desync.
 */
const BAD_CHUNKED: Array<[string, (rng: Rng, body: Buffer) => string]> = [
  ['chunk-size-garbage', (rng) => `${rng.pick(['zz', '+5', '-1', '0x5', 'fffffffffffffffff1', '5 ', ' 5', '5\x00', ''])}${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
  ['chunk-data-too-long', () => `5${CRLF}helloXX${CRLF}0${CRLF}${CRLF}`],
  ['chunk-missing-crlf', () => `5${CRLF}hello0${CRLF}${CRLF}`],
  ['chunk-bare-lf', () => `5\nhello\n0\n\n`],
  ['chunk-bad-ext', (rng) => `5;${rng.pick(['a b', 'a="', '\x01'])}${CRLF}hello${CRLF}0${CRLF}${CRLF}`],
]

function invalidRequest(rng: Rng, conn: number, index: number): PlannedRequest {
  const d = baseDraft(rng, conn, index, 'valid')
  d.req.expect = 'invalid'
  // Whether a refusal of a HEAD carries a body depends on whether the method was read before the fault:
  // invalid requests use other methods, so the answer's framing is never in doubt.
  if (d.head.method === 'HEAD') d.head.method = 'GET'
  if (rng.chance(0.2)) {
    const [name, make] = rng.pick(BAD_CHUNKED)
    d.head.method = rng.pick(['POST', 'PUT'])
    d.req.method = d.head.method
    frameChunked(rng, d)
    d.wire = latin1(make(rng, d.body))
    d.req.mutation = name
    d.req.headMayReach = true
    d.req.framing = name !== 'chunk-bad-ext'
    return finish(d)
  }
  const [name, framing, mutate] = rng.pick(INVALID)
  mutate(rng, d)
  d.req.mutation = name
  d.req.framing = framing
  d.req.isHead = d.head.method === 'HEAD'
  return finish(d)
}

function corpusRequest(rng: Rng, seed: CorpusSeed, conn: number, index: number): PlannedRequest {
  const marker = markerOf(conn, index)
  // Under /f/ so that the route matches: the request reaches the guard and the pool, not a 404.
  let uri = seed.uri.startsWith('/') ? `/f${seed.uri}` : seed.uri.replace(/^(https?:\/\/[^/]*)\//i, '$1/f/')
  if (uri.startsWith('/') || /^https?:\/\//i.test(uri)) uri += (uri.includes('?') ? '&' : '?') + `m=${marker}`
  // The body the seed's framing announces, else a request complete in its head would wait for a body never
  // sent (a hang of the fuzzer, not of the balancer): Transfer-Encoding is the list of all its fields (a
  // seed may send `gzip` in one and `chunked` in the last), and a Content-Length up to 7 digits is sent in
  // full (one seed announces 4 000 000 bytes).
  const tes = seed.headers.filter((h) => h.name.toLowerCase() === 'transfer-encoding')
  const te = tes.length === 0 ? undefined : { value: tes.map((h) => h.value).join(',') }
  const cl = seed.headers.find((h) => h.name.toLowerCase() === 'content-length')
  let wire = ''
  let body = ''
  if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te.value)) {
    body = 'hello'
    wire = `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`
  } else if (cl !== undefined && /^\s*\d{1,7}\s*$/.test(cl.value)) {
    body = 'a'.repeat(Number(cl.value.trim()))
    wire = body
  }
  const method = seed.expect === 'invalid' && seed.method === 'HEAD' ? 'GET' : seed.method
  const lines = [`${method} ${uri} ${seed.version}`]
  if (!seed.headers.some((h) => h.name.toLowerCase() === 'host')) lines.push(`Host: ${HOST}`)
  const headers = seed.headers.map((h) => ({ ...h }))
  // Mutation on top of the seed: the same case with other letter case in its names, now and then.
  if (rng.chance(0.3)) for (const h of headers) h.name = caseVariant(rng, h.name)
  for (const h of headers) lines.push(`${h.name}: ${h.value}`)
  const smuggled: string[] = []
  if (seed.expect === 'invalid') {
    wire += probe(`${marker}S`)
    smuggled.push(`${marker}S`)
  }
  return {
    marker,
    bytes: Buffer.concat([encodeLatin1OrUtf8(lines.join(CRLF) + CRLF + CRLF), latin1(wire)]),
    expect: seed.expect,
    method,
    target: undefined,
    body: latin1(body),
    isHead: method === 'HEAD',
    closes: false,
    mayClose: /^HTTP\/1\.0$/i.test(seed.version),
    headMayReach: false,
    framing: true,
    smuggled,
    mutation: `corpus:${seed.key}`,
  }
}

/**
 * Builds connection `id` of a campaign: 1-`maxRequestsPerConnection` requests (mostly valid, some lenient,
 * some without a route), sometimes ending with a closing, an invalid or a corpus request, written in
 * pipelined batches split at random byte boundaries with random pauses.
 */
export function generateConnection(rng: Rng, id: number, options: GenerateOptions = {}): ConnectionPlan {
  const max = options.maxRequestsPerConnection ?? 48
  const r = rng.next()
  const count = r < 0.3 ? rng.range(1, 4) : r < 0.8 ? rng.range(5, 16) : rng.range(17, max)
  const requests: PlannedRequest[] = []
  let tail: Buffer = Buffer.alloc(0)
  const ending = rng.next()
  for (let i = 0; i < count; i++) {
    const last = i === count - 1
    if (last && ending < 0.14) {
      requests.push(invalidRequest(rng, id, i))
      const marker = `${markerOf(id, i + 1)}S`
      tail = latin1(probe(marker))
      continue
    }
    if (last && ending < 0.2 && options.corpus !== undefined && options.corpus.length > 0) {
      requests.push(corpusRequest(rng, rng.pick(options.corpus), id, i))
      if (requests[requests.length - 1]?.expect === 'invalid') tail = latin1(probe(`${markerOf(id, i + 1)}S`))
      continue
    }
    const d = baseDraft(rng, id, i, rng.chance(0.04) ? 'noroute' : 'valid')
    if (d.req.expect === 'valid' && rng.chance(0.15)) {
      const [name, mutate] = rng.pick(LENIENT)
      mutate(rng, d)
      d.req.expect = 'lenient'
      d.req.mutation = name
      // A tolerated form inside a chunked body is only seen after the head went out: refusing it then
      // aborts the forwarded head, which is allowed.
      d.req.headMayReach = BODY_LEVEL.has(name)
      if (!last) {
        d.req.closes = false
        d.req.mayClose = false
      }
      if (d.head.version === 'HTTP/1.0' && !last) {
        // HTTP/1.0 may close after its answer: keep it last.
        d.head.version = 'HTTP/1.1'
        d.req.mutation += '(1.1)'
      }
    }
    if (last && ending < 0.25 && !d.req.closes && !d.req.mayClose) {
      d.head.headers.push(['Connection', ' close'])
      d.req.closes = true
    }
    requests.push(finish(d))
  }
  const batches: number[] = []
  for (let left = count; left > 0;) {
    const b = rng.next()
    const n = Math.min(left, b < 0.45 ? 1 : b < 0.85 ? rng.range(2, 8) : b < 0.95 ? rng.range(9, 32) : left)
    batches.push(n)
    left -= n
  }
  const s = rng.next()
  return {
    id,
    requests,
    tail,
    batches,
    maxPieces: s < 0.55 ? 1 : s < 0.9 ? rng.range(2, 4) : rng.range(5, 24),
    pauseChance: rng.chance(0.3) ? rng.next() * 0.5 : 0,
    maxPauseMs: rng.chance(0.9) ? 3 : 40,
  }
}
