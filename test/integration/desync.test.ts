// Request smuggling / desync corpus (aws/http-desync-guardian, vendored in test/fixtures/http-desync-guardian/): every case is
// built into a raw request and sent over a plain TCP socket to an in-process proxy.
// - Severe: 400 (JSON body) and the connection closed; the backend sees nothing.
// - Ambiguous: the same, unless listed in AMBIGUOUS_FORWARDED (with the reason): then forwarded re-framed.
// - Compliant / Acceptable: forwarded; the backend sees exactly one request whose body length matches the
//   client's framing, and the client gets exactly one response. Cases where the corpus conflicts with
//   RFC 9112 (or with what Node's parser can accept) are listed in REFUSED_DESPITE_CORPUS with the reason.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { rawRequest, startTestBackend, type TestBackend } from '../helpers/index.js'
import { poolConfig, startProxy, type InProcessProxy } from '../helpers/in-process.js'
import { encodeLatin1OrUtf8 } from '../../bench/fuzz/corpus.js'

// Vendored in the repository (Apache-2.0, LICENSE and NOTICE beside it): a fresh clone runs this test as is.
const CORPUS_DIR = fileURLToPath(new URL('../fixtures/http-desync-guardian', import.meta.url))

interface CorpusCase {
  file: string
  index: number
  name: string
  uri: string
  method: string
  version: string
  headers: Array<{ name: string; value: string }>
  tier: 'Compliant' | 'Acceptable' | 'Ambiguous' | 'Severe'
}

/** Key of a case: `file#index` (names repeat within a file). */
const key = (c: CorpusCase): string => `${c.file}#${c.index}`

/**
 * Ambiguous cases the balancer forwards instead of refusing. Each is re-framed on the way out (explicit
 * Content-Length, or chunked, written by the balancer itself), and the client connection is read with the same
 * framing, so the backend and the balancer cannot disagree on where the request ends.
 */
const AMBIGUOUS_FORWARDED: ReadonlyMap<string, string> = new Map([
  // RFC 9112 6.3: request framing does not depend on the method; RFC 9110 9.3.1/9.3.2 allow content in GET
  // and HEAD (no defined semantics). Refusing would break real clients (search APIs send GET bodies).
  // The balancer forwards the body with its own Content-Length, so a conforming backend reads it one way.
  ['ambiguous.yaml#12', 'GET + Content-Length: body forwarded with the balancer\'s own Content-Length'],
  ['ambiguous.yaml#13', 'GET + chunked: body forwarded re-framed (chunked by the balancer)'],
  ['ambiguous.yaml#14', 'HEAD + Content-Length: body forwarded with the balancer\'s own Content-Length'],
  ['ambiguous.yaml#15', 'HEAD + chunked: body forwarded re-framed (chunked by the balancer)'],
  ['real-life-test-cases.yaml#0', 'GET + Content-Length: as above'],
  ['real-life-test-cases.yaml#1', 'GET + chunked: as above'],
])

/**
 * Compliant/Acceptable cases the balancer refuses with 400 + close, and why. Refusing is always safe for
 * desync; these are deviations from the corpus's tier only.
 */
const REFUSED_DESPITE_CORPUS: ReadonlyMap<string, string> = new Map([
  // HTTP/0.9 has no version token and no header fields; "HTTP/0.9" with headers is no valid message of any
  // version, and a 1.1 proxy could not answer in 0.9 anyway. Node's parser refuses it.
  ['acceptable.yaml#6', 'HTTP/0.9 with headers: not a valid message (RFC 9112 2.3); refused'],
  ['acceptable.yaml#7', 'empty version: request-line = method SP target SP version (RFC 9112 3); refused'],
  // RFC 9110 2.5 says a 1.x recipient SHOULD process an unknown minor version as 1.1; Node's parser (llhttp,
  // strict) refuses any version other than 1.0/1.1 and the balancer does not enable its lenient flags.
  ['acceptable.yaml#8', 'HTTP/1.2: refused by Node\'s parser (RFC 9110 2.5 SHOULD accept; deviation)'],
  // RFC 9112 3: "recipients of an invalid request-line SHOULD respond with 400 ... SHOULD NOT attempt to
  // autocorrect". An unescaped space in the target and a trailing space after the version are invalid.
  ['uri-specific-test-cases.yaml#1', 'trailing space after the version: invalid request-line (RFC 9112 3)'],
  ['uri-specific-test-cases.yaml#3', 'unescaped spaces in the target: invalid request-line (RFC 9112 3)'],
  // RFC 9112 5.1: "A server MUST reject, with a response status code of 400 (Bad Request), any received request
  // message that contains whitespace between a header field name and colon." The corpus calls these Acceptable.
  ['acceptable.yaml#0', 'space before the colon: MUST be rejected (RFC 9112 5.1)'],
  ['acceptable.yaml#1', 'space before the colon: MUST be rejected (RFC 9112 5.1)'],
  ['acceptable.yaml#3', 'space before the colon: MUST be rejected (RFC 9112 5.1)'],
  // field-name = token (RFC 9110 5.1) and field values exclude CTLs (RFC 9110 5.5): \x01 makes the field
  // invalid; Node's parser refuses it and forwarding a repaired copy would be autocorrection.
  ['acceptable.yaml#2', '\\x01 in a field name: not a token (RFC 9110 5.1)'],
  ['bad-header-characters.yaml#11', '\\x01 in a field name: not a token (RFC 9110 5.1)'],
  ['bad-header-characters.yaml#12', '\\x01 in a field name: not a token (RFC 9110 5.1)'],
  ['bad-header-characters.yaml#13', '\\x01 in a field value: CTL, invalid (RFC 9110 5.5)'],
  ['bad-header-characters.yaml#14', '\\x01 in a field value: CTL, invalid (RFC 9110 5.5)'],
  // RFC 3986 2: a URI holds ASCII only; non-ASCII must be percent-encoded. Node's parser refuses raw UTF-8.
  ['rfc-compliant.yaml#12', 'raw UTF-8 in the request-target: not a URI (RFC 3986 2, RFC 9112 3.2)'],
  // origin-form must start with "/" (RFC 9112 3.2.1); an empty target is not a request-target.
  ['rfc-compliant.yaml#13', 'empty request-target: invalid (RFC 9112 3.2)'],
  // transfer-parameter = token BWS "=" BWS ( token / quoted-string ) (RFC 9112 7.3): "chunked;custom_param;"
  // has a parameter without a value and a dangling ";" — not a valid transfer-coding list.
  ['rfc-compliant.yaml#10', 'Transfer-Encoding "chunked;custom_param;": invalid transfer-parameter syntax (RFC 9112 7.3)'],
  ['more-compliant-tests.yaml#9', 'Transfer-Encoding "chunked;custom_param;": invalid transfer-parameter syntax (RFC 9112 7.3)'],
])

function loadCorpus(): CorpusCase[] {
  const cases: CorpusCase[] = []
  for (const file of readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    const doc = parse(readFileSync(join(CORPUS_DIR, file), 'utf8')) as Array<Record<string, unknown>>
    doc.forEach((c, index) => {
      const headers = ((c.headers as Array<{ name: unknown; value: unknown }> | null) ?? []).map((h) => ({
        name: String(h.name ?? ''),
        value: String(h.value ?? ''),
      }))
      cases.push({
        file,
        index,
        name: String(c.name),
        uri: String(c.uri ?? ''),
        method: String(c.method ?? ''),
        version: String(c.version ?? ''),
        headers,
        tier: (c.expected as { tier: CorpusCase['tier'] }).tier,
      })
    })
  }
  return cases
}

const letters = (name: string): string => name.toLowerCase().replace(/[^a-z]/g, '')

/**
 * The body the client sends, consistent with the header that (leniently read) defines it: a chunked body when
 * some Transfer-Encoding-like header says chunked, else `n` bytes for a Content-Length-like header holding a
 * plain number, else none. `expected` is its length as a strict reader frames it.
 */
function bodyFor(c: CorpusCase): { bytes: Buffer; expected: number } {
  if (c.headers.some((h) => letters(h.name) === 'transferencoding' && /chunked/i.test(h.value))) {
    return { bytes: Buffer.from('5\r\nhello\r\n0\r\n\r\n'), expected: 5 }
  }
  const cl = c.headers.find((h) => letters(h.name) === 'contentlength' && /^\s*\d{1,7}\s*$/.test(h.value))
  if (cl !== undefined) {
    const n = Number(cl.value.trim())
    return { bytes: Buffer.alloc(n, 'a'), expected: n }
  }
  return { bytes: Buffer.alloc(0), expected: 0 }
}

function buildRequest(c: CorpusCase): Buffer {
  const lines = [`${c.method} ${c.uri} ${c.version}`]
  if (!c.headers.some((h) => h.name.toLowerCase() === 'host')) lines.push('Host: 127.0.0.1')
  for (const h of c.headers) lines.push(`${h.name}: ${h.value}`)
  return Buffer.concat([encodeLatin1OrUtf8(lines.join('\r\n') + '\r\n\r\n'), bodyFor(c).bytes])
}

const statusLines = (raw: string): number => (raw.match(/HTTP\/1\.[01] \d{3} /g) ?? []).length

const corpus = loadCorpus()

describe('desync corpus', () => {
  let backend: TestBackend
  let proxy: InProcessProxy

  before(async () => {
    backend = await startTestBackend({ name: 'a' })
    proxy = await startProxy(poolConfig([backend.url]))
  })
  after(async () => {
    await proxy?.close()
    await backend?.close()
  })

  it('loads the whole corpus', () => {
    assert.ok(corpus.length >= 150, `cases: ${corpus.length}`)
    for (const k of [...AMBIGUOUS_FORWARDED.keys(), ...REFUSED_DESPITE_CORPUS.keys()]) {
      assert.ok(corpus.some((c) => key(c) === k), `${k} names a corpus case`)
    }
    for (const [k] of AMBIGUOUS_FORWARDED) assert.equal(corpus.find((c) => key(c) === k)?.tier, 'Ambiguous', k)
    for (const [k] of REFUSED_DESPITE_CORPUS) assert.notEqual(corpus.find((c) => key(c) === k)?.tier, 'Ambiguous', k)
  })

  for (const c of corpus) {
    const forward =
      c.tier === 'Compliant' || c.tier === 'Acceptable'
        ? !REFUSED_DESPITE_CORPUS.has(key(c))
        : c.tier === 'Ambiguous' && AMBIGUOUS_FORWARDED.has(key(c))
    it(`${c.file} #${c.index} [${c.tier}] ${c.name} -> ${forward ? 'forwarded' : '400 + close'}`, async () => {
      const seen = backend.requests.length
      const r = await rawRequest(proxy.port, buildRequest(c), { timeoutMs: 150, deadlineMs: 15_000 })
      if (forward) {
        assert.equal(r.status, 200, `response: ${r.raw.slice(0, 400)}`)
        assert.match(r.raw, /\r\nx-backend: a\r\n/i)
        assert.equal(statusLines(r.raw), 1, `exactly one response: ${r.raw.slice(0, 600)}`)
        assert.equal(backend.requests.length - seen, 1, 'the backend saw exactly one request')
        const got = backend.requests[seen]
        assert.equal(got?.method, c.method)
        assert.equal(got?.bodyBytes, bodyFor(c).expected, 'body length as the client framed it')
      } else {
        assert.equal(r.status, 400, `response: ${r.raw.slice(0, 400)}`)
        assert.equal(r.closed, true, 'connection closed after the 400')
        assert.equal(statusLines(r.raw), 1, `exactly one response: ${r.raw.slice(0, 600)}`)
        const body = r.raw.slice(r.raw.indexOf('\r\n\r\n') + 4)
        const json = JSON.parse(body) as { error?: unknown; requestId?: unknown }
        assert.equal(typeof json.error, 'string')
        assert.equal(typeof json.requestId, 'string')
        assert.equal(backend.requests.length - seen, 0, 'the backend saw nothing')
      }
    })
  }
})

describe('framing errors found after the request head (bad chunking -> 400 + close)', () => {
  let backend: TestBackend
  let proxy: InProcessProxy

  before(async () => {
    backend = await startTestBackend({ name: 'a' })
    proxy = await startProxy(poolConfig([backend.url]))
  })
  after(async () => {
    await proxy?.close()
    await backend?.close()
  })

  for (const [name, body] of [
    ['invalid chunk size', 'zz\r\nhello\r\n0\r\n\r\n'],
    ['chunk data longer than its size', '5\r\nhelloXX\r\n0\r\n\r\n'],
    ['missing CRLF after chunk data', '5\r\nhello0\r\n\r\n'],
    ['chunk size with a sign', '+5\r\nhello\r\n0\r\n\r\n'],
  ]) {
    it(`${name} -> 400 + close, no backend answer relayed`, async () => {
      const r = await rawRequest(proxy.port, `POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, { timeoutMs: 150 })
      assert.equal(r.status, 400, r.raw)
      assert.equal(r.closed, true)
      assert.equal(statusLines(r.raw), 1, r.raw)
      assert.doesNotMatch(r.raw, /x-backend/i)
      // A try that had started was abandoned: the backend never saw the body end.
      assert.ok(backend.requests.every((q) => q.bodyBytes <= 5), 'no complete body reached the backend')
      assert.equal(proxy.app.runtime.inFlight, 0)
    })
  }

  it('a valid request followed by a malformed one: the first is answered, then 400, then close', async () => {
    const seen = backend.requests.length
    const r = await rawRequest(proxy.port, 'POST /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello' +
      'GET /next HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx', { timeoutMs: 1000 })
    assert.equal(r.status, 200, r.raw)
    assert.equal(r.closed, true)
    assert.equal(statusLines(r.raw), 2, r.raw)
    assert.match(r.raw, /\r\n\r\n\{[^]*\}HTTP\/1\.1 400 /)
    assert.equal(backend.requests.length - seen, 1)
    assert.equal(backend.requests[seen]?.url, '/ok')
  })
})
