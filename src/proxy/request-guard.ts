import type { ClientRequest } from './client-message.js'
import type { ErrorCode } from '../core/index.js'
import type { ClientLimits } from '../config/index.js'
import { sameToken } from '../core/index.js'
import { knownName } from './headers.js'

/** What the guard learns on its one pass over the headers, for the caller to reuse (see `RequestHead`). */
export interface GuardedHead {
  /** The Host header's value ('' when absent). */
  host: string
  /** A Transfer-Encoding field is present (the body is chunked). */
  chunked: boolean
  /** The first Content-Type value ('' when absent). */
  contentType: string
  /** The first `grpc-timeout` value ('' when absent). */
  grpcTimeout: string
  /** The Upgrade values, joined with `, ` ('' when absent). */
  upgrade: string
}

/**
 * Checks what Node's HTTP parser (llhttp, strict mode) lets through but a proxy must refuse:
 * target length (414), header size and count (431), and framing a backend could read two ways
 * (400 + close). llhttp itself already rejects CL+TE together, duplicate or invalid Content-Length,
 * Transfer-Encoding other than a final `chunked`, bad chunk sizes, obs-fold and invalid header
 * characters (see server/client-errors.ts for how those are answered).
 * Two framing checks are repeated here on purpose: llhttp reports a Transfer-Encoding whose final coding
 * is not `chunked` only when the body starts, after the request was already emitted (and would be
 * forwarded); and it takes look-alike names (`Transfer_Encoding`, `Content---Length`) as ordinary
 * fields, which a backend that folds `_` into `-` (CGI, WSGI) or ignores punctuation would read as framing.
 * Returns the error code, or undefined when the request may proceed; `head` (when given) receives what
 * the pass saw (see {@link GuardedHead}), valid only when the request may proceed.
 */
export function checkRequest(req: ClientRequest, limits: ClientLimits, head?: GuardedHead): ErrorCode | undefined {
  const url = req.url ?? ''
  if (url.length > limits.maxUrlBytes) return 'LB_ERR_URI_TOO_LONG'
  if (url.length === 0 || (url.charCodeAt(0) !== 47 /* / */ && url !== '*' && req.method !== 'CONNECT' && !isAbsoluteForm(url))) {
    return 'LB_ERR_BAD_REQUEST'
  }
  const raw = req.rawHeaders
  // server.maxHeadersCount is limits.maxHeaderCount + 1, so one field too many is still visible here.
  if (raw.length / 2 > limits.maxHeaderCount) return 'LB_ERR_HEADERS_TOO_LARGE'
  // Sizes first, from lengths alone: every scan of names and values below runs only on a head that is
  // within the limits, so its cost is bounded by maxHeaderBytes.
  let bytes = 0
  for (let i = 0; i < raw.length; i++) bytes += (raw[i] as string).length
  bytes += raw.length * 2
  if (bytes > limits.maxHeaderBytes) return 'LB_ERR_HEADERS_TOO_LARGE'
  let hasHost = false
  let te: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    if (name.length === 4 && knownName(name) === 'host') {
      if (hasHost) return 'LB_ERR_BAD_REQUEST' // RFC 9112 3.2: more than one Host is a 400
      hasHost = true
      if (head !== undefined) head.host = value
    } else if (name.length === 17 && knownName(name) === 'transfer-encoding') {
      te = te === undefined ? value : `${te},${value}`
    } else if (name.length === 12) {
      if (head === undefined) continue
      if (head.contentType === '' && sameToken(name, 'content-type')) head.contentType = value
      else if (head.grpcTimeout === '' && sameToken(name, 'grpc-timeout')) head.grpcTimeout = value
    } else if (name.length === 7) {
      if (head !== undefined && knownName(name) === 'upgrade') head.upgrade = head.upgrade === '' ? value : `${head.upgrade}, ${value}`
    } else if (looksLikeFraming(name)) {
      return 'LB_ERR_AMBIGUOUS_FRAMING'
    }
  }
  const hasTe = te !== undefined
  if (head !== undefined) head.chunked = hasTe
  if (te !== undefined && !endsWithSingleChunked(te)) return 'LB_ERR_AMBIGUOUS_FRAMING'
  // `gzip, chunked` is forwarded (the corpus's Compliant tier): the body is re-framed as chunked and the
  // other codings are not carried (undici sends no Transfer-Encoding of its own): a known limitation.
  if (req.httpVersionMajor !== 1) return 'LB_ERR_BAD_REQUEST'
  if (req.httpVersionMinor === 1 && !hasHost) return 'LB_ERR_BAD_REQUEST'
  // HTTP/1.0 has no chunked coding: a 1.0 message with Transfer-Encoding is read two ways (RFC 9112 6.1).
  if (hasTe && req.httpVersionMinor === 0) return 'LB_ERR_AMBIGUOUS_FRAMING'
  return undefined
}

/**
 * A name that is not `Transfer-Encoding` / `Content-Length` but reads as one once case and punctuation
 * are ignored (`Transfer_Encoding`, `Content.Length`, `Transfer---Encoding`).
 */
function looksLikeFraming(name: string): boolean {
  if (name.length < 13) return false
  // The exact names are framing, not look-alikes: 14 and 17 characters with the hyphen in its place.
  if (lettersSpell(name, 'contentlength')) return !(name.length === 14 && name.charCodeAt(7) === 45)
  if (lettersSpell(name, 'transferencoding')) return !(name.length === 17 && name.charCodeAt(8) === 45)
  return false
}

/**
 * Whether the letters of `name`, case-folded and with every other character skipped, spell `target`
 * (lower case). Runs on every long header name, so it allocates nothing and stops at the first mismatch.
 */
function lettersSpell(name: string, target: string): boolean {
  let j = 0
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i)
    if (c >= 65 && c <= 90) c += 32
    else if (c < 97 || c > 122) continue
    if (c !== target.charCodeAt(j)) return false
    j++
  }
  return j === target.length
}

/**
 * RFC 9112 6.1/6.3: a request's Transfer-Encoding must end with `chunked` and apply it once. Elements are
 * split on commas and trimmed of OWS (space and tab only: `\xa0chunked` is not `chunked`); empty elements
 * are skipped. One pass over the value, no regular expression and no allocation: a value padded with
 * thousands of spaces costs what its length costs (a backtracking trim was quadratic in the padding).
 */
export function endsWithSingleChunked(te: string): boolean {
  let chunkedCount = 0
  let lastIsChunked = false
  let start = 0
  const n = te.length
  while (start <= n) {
    let end = te.indexOf(',', start)
    if (end < 0) end = n
    let a = start
    let b = end
    while (a < b && isOws(te.charCodeAt(a))) a++
    while (b > a && isOws(te.charCodeAt(b - 1))) b--
    if (b > a) {
      lastIsChunked = b - a === 7 && isChunkedAt(te, a)
      if (lastIsChunked) chunkedCount++
    }
    start = end + 1
  }
  return chunkedCount === 1 && lastIsChunked
}

/** `chunked`, any case, at te[at..at+7). */
function isChunkedAt(te: string, at: number): boolean {
  for (let i = 0; i < 7; i++) if ((te.charCodeAt(at + i) | 0x20) !== CHUNKED.charCodeAt(i)) return false
  return true
}

const CHUNKED = 'chunked'

function isOws(c: number): boolean {
  return c === 32 || c === 9
}

function isAbsoluteForm(url: string): boolean {
  return url.startsWith('http://') || url.startsWith('https://')
}
