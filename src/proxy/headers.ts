/**
 * Header rewriting for both legs. Hop-by-hop headers (RFC 9110 7.6.1), and any header the sender
 * names in `Connection`, are removed first; only then are `X-Forwarded-*` and `X-Request-Id`
 * written, so a client cannot strip them by listing them in `Connection`. Framing headers
 * (`Content-Length`, `Transfer-Encoding`) are never copied: the outgoing message is re-framed.
 */
import { sameToken } from '../core/index.js'

/** Removed on both legs, whatever `Connection` says. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
])

/** Request headers the balancer writes itself (client values are replaced or merged). */
const OWN_REQUEST_HEADERS = new Set([
  'content-length', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id',
])

/** Every name the copy functions act on; any other header is copied as it is. */
const KNOWN_NAMES = [...HOP_BY_HOP, ...OWN_REQUEST_HEADERS, 'host', 'idempotency-key', 'x-lb-debug']
/**
 * KNOWN_NAMES by length, so that most names are told apart by one comparison of lengths; each with its
 * Title-Case spelling (`Content-Length`), the other form most senders use.
 */
const KNOWN_BY_LENGTH: ReadonlyArray<ReadonlyArray<readonly [string, string]> | undefined> = (() => {
  const out: [string, string][][] = []
  for (const n of KNOWN_NAMES) (out[n.length] ??= []).push([n, n.replace(/(^|-)[a-z]/g, (m) => m.toUpperCase())])
  return out
})()

/**
 * The lower-case spelling of `name` when it is one of the names the proxy acts on, else undefined.
 * Allocation-free (no `toLowerCase()` per header): header names are tokens (RFC 9110 5.6.2), which the
 * parsers have already checked, so folding bit 0x20 maps exactly the letters A-Z to a-z. `name` may
 * still be the parser's bytes (response headers from undici): then no string is made at all. A string in
 * one of the two usual spellings is matched by string equality first (V8 compares in native code, a
 * letter-by-letter fold in JavaScript costs about twice as much).
 */
export function knownName(name: string | Uint8Array): string | undefined {
  const candidates = KNOWN_BY_LENGTH[name.length]
  if (candidates === undefined) return undefined
  if (typeof name === 'string') {
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i] as readonly [string, string]
      if (name === c[0] || name === c[1]) return c[0]
    }
  }
  for (let i = 0; i < candidates.length; i++) {
    const known = (candidates[i] as readonly [string, string])[0]
    if (sameToken(name, known)) return known
  }
  return undefined
}

/** Lower-case name for the header rules: a known one without allocating, any other (rare lists) folded. */
function lowerName(name: string, needAll: boolean): string | undefined {
  return knownName(name) ?? (needAll ? name.toLowerCase() : undefined)
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** True for an `X-Request-Id` the balancer keeps: 1-128 characters of `A-Za-z0-9._:-`; any other value is replaced by a generated one. */
export function isValidRequestId(value: string): boolean {
  return REQUEST_ID.test(value)
}

/**
 * Writes the balancer's own forwarding headers after the copied ones (plain requests and upgrades alike):
 * `X-Forwarded-For` appended to with the immediate peer (nginx's `$proxy_add_x_forwarded_for`),
 * `X-Forwarded-Proto`, `X-Request-Id`, and `X-Forwarded-Host` when the client sent a Host.
 */
export function appendForwardedHeaders(out: string[], facts: RequestHeaderFacts, peer: string, proto: 'http' | 'https', requestId: string): void {
  out.push(
    'x-forwarded-for', facts.forwardedFor === '' ? peer : `${facts.forwardedFor}, ${peer}`,
    'x-forwarded-proto', proto,
    'x-request-id', requestId,
  )
  if (facts.host !== '') out.push('x-forwarded-host', facts.host)
}

/** What the client's raw headers told us, gathered in the one pass that copies them. */
export interface RequestHeaderFacts {
  host: string
  /** Incoming X-Forwarded-For (all instances joined), '' if none. */
  forwardedFor: string
  /** Client's X-Request-Id when valid, else ''. */
  requestId: string
  /** Value of Content-Length, -1 when absent. */
  contentLength: number
  /** Transfer-Encoding present. */
  chunked: boolean
  /** The request carries an Idempotency-Key header (makes a non-idempotent method retryable). */
  idempotencyKey: boolean
  /** Value of `x-lb-debug` (asks for a decision trace), '' if none; never forwarded. */
  debug: string
}

/**
 * Names a `Connection` header may list without effect: the message's framing and its Host belong to
 * this hop and the next alike (the proxy re-frames the body and forwards Host). Honouring them would
 * drop the body (and skip the body-size limit) or the Host; they are ignored as hop-by-hop names.
 */
const NOT_HOP_BY_HOP = new Set(['content-length', 'transfer-encoding', 'host'])

/**
 * Lower-cased tokens of every Connection header, or undefined when there is nothing to remove.
 * `close`, `keep-alive` and the names in {@link NOT_HOP_BY_HOP} are left out.
 */
export function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length !== 10 || knownName(name) !== 'connection') continue
    for (const part of (raw[i + 1] as string).split(',')) {
      const t = part.trim().toLowerCase()
      if (t === '' || t === 'close' || t === 'keep-alive' || NOT_HOP_BY_HOP.has(t)) continue
      ;(tokens ??= new Set()).add(t)
    }
  }
  return tokens
}

/**
 * Copies the end-to-end request headers into `out` (flat name/value list, original case and order)
 * and returns the facts the proxy needs. `remove` are route-configured names to drop (lower case).
 * `keepUpgrade` keeps Connection/Upgrade for a tunnelled upgrade.
 */
export function copyRequestHeaders(
  raw: readonly string[],
  out: string[],
  remove: ReadonlySet<string> | undefined,
  keepUpgrade = false,
): RequestHeaderFacts {
  const named = connectionTokens(raw)
  // Route removals and Connection tokens name arbitrary headers: only then is every name folded.
  const needAll = named !== undefined || remove !== undefined
  const facts: RequestHeaderFacts = { host: '', forwardedFor: '', requestId: '', contentLength: -1, chunked: false, idempotencyKey: false, debug: '' }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    const lower = lowerName(name, needAll)
    if (lower === undefined) {
      out.push(name, value)
      continue
    }
    if (named !== undefined && named.has(lower) && !(keepUpgrade && lower === 'upgrade')) continue
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding') facts.chunked = true
      else if (keepUpgrade && lower === 'upgrade') out.push(name, value)
      continue
    }
    if (OWN_REQUEST_HEADERS.has(lower)) {
      if (lower === 'content-length') facts.contentLength = Number(value)
      else if (lower === 'x-forwarded-for') facts.forwardedFor = facts.forwardedFor === '' ? value : `${facts.forwardedFor}, ${value}`
      else if (lower === 'x-request-id' && isValidRequestId(value)) facts.requestId = value
      continue
    }
    if (remove !== undefined && remove.has(lower)) continue
    if (lower === 'x-lb-debug') {
      facts.debug = value
      continue
    }
    if (lower === 'host') facts.host = value
    else if (lower === 'idempotency-key') facts.idempotencyKey = true
    out.push(name, value)
  }
  if (keepUpgrade) out.push('connection', 'upgrade')
  return facts
}

/**
 * Copies the end-to-end response headers from undici's raw list (Buffers) into a flat string list
 * for `res.writeHead`. Returns the list. The fast path's own connections hand over strings (llhttp
 * gives them as strings): they are taken as they are.
 */
export function copyResponseHeaders(raw: readonly (Buffer | string)[], remove: ReadonlySet<string> | undefined): string[] {
  const out: string[] = []
  let named: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const nameBytes = raw[i] as Buffer | string
    const valueBytes = raw[i + 1] as Buffer | string
    // Matched on the bytes: the hop-by-hop fields every keep-alive response carries (Connection,
    // Keep-Alive) are dropped without ever becoming strings.
    const known = knownName(nameBytes)
    if (known === 'connection') {
      if (!isPlainConnectionValue(valueBytes)) {
        for (const part of valueBytes.toString('latin1').split(',')) {
          const t = part.trim().toLowerCase()
          if (t !== '' && t !== 'close' && t !== 'keep-alive') (named ??= new Set()).add(t)
        }
      }
      continue
    }
    if (known !== undefined && HOP_BY_HOP.has(known)) continue
    const name = typeof nameBytes === 'string' ? nameBytes : nameBytes.toString('latin1')
    if (remove !== undefined && remove.has(known ?? name.toLowerCase())) continue
    out.push(name, typeof valueBytes === 'string' ? valueBytes : fieldValue(valueBytes))
  }
  if (named === undefined) return out
  // Rare: the backend named extra hop-by-hop headers; filter them out after the fact.
  const filtered: string[] = []
  for (let i = 0; i < out.length; i += 2) {
    if (!named.has((out[i] as string).toLowerCase())) filtered.push(out[i] as string, out[i + 1] as string)
  }
  return filtered
}

/**
 * A field value from undici's bytes without trailing blanks: undici drops the whitespace before a value
 * but keeps what follows it, which is not part of the value (RFC 9110 5.5) and which Node's parser, on the
 * fast path, drops.
 */
function fieldValue(bytes: Buffer): string {
  let end = bytes.length
  while (end > 0 && (bytes[end - 1] === SP || bytes[end - 1] === HTAB)) end--
  return bytes.toString('latin1', 0, end)
}

const SP = 0x20
const HTAB = 0x09

/** `Connection: keep-alive` or `close` (any case): names no other header, nothing to parse. */
function isPlainConnectionValue(value: Buffer | string): boolean {
  return (value.length === 10 && sameToken(value, 'keep-alive')) || (value.length === 5 && sameToken(value, 'close'))
}
