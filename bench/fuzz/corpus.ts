/**
 * Seeds from the http-desync-guardian corpus (test/fixtures/http-desync-guardian, Apache-2.0, see LICENSE and
 * NOTICE there): each case becomes a request template with the class the fuzzer expects for it.
 * - Severe and Ambiguous: must be refused (4xx and close) and never reach a backend, except the Ambiguous
 *   cases that only carry a body on GET/HEAD (RFC 9112 6.3: framing does not depend on the method), which
 *   may be forwarded with the body the client framed.
 * - Compliant and Acceptable: may be forwarded (then exactly as framed) or refused; some are refused on
 *   purpose (see test/integration/desync.test.ts for the list and the reasons).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

/** Where the vendored corpus lives in the repository. */
export const CORPUS_DIR = fileURLToPath(new URL('../../test/fixtures/http-desync-guardian/', import.meta.url))

/** One corpus case, ready to be built into bytes. */
export interface CorpusSeed {
  /** `file#index`. */
  key: string
  method: string
  uri: string
  version: string
  headers: Array<{ name: string; value: string }>
  /** `invalid`: never forwarded; `lenient`: forwarded as framed, or refused. */
  expect: 'invalid' | 'lenient'
}

/** Ambiguous cases whose only ambiguity is a body on GET/HEAD: forwarding them re-framed is allowed. */
const AMBIGUOUS_FORWARDABLE = new Set([
  'ambiguous.yaml#12', 'ambiguous.yaml#13', 'ambiguous.yaml#14', 'ambiguous.yaml#15',
  'real-life-test-cases.yaml#0', 'real-life-test-cases.yaml#1',
])

/** Loads every case of the corpus (about 160), sorted by file and index so seeds are stable. */
export function loadCorpusSeeds(dir: string = CORPUS_DIR): CorpusSeed[] {
  const seeds: CorpusSeed[] = []
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const doc = parse(readFileSync(join(dir, file), 'utf8')) as Array<Record<string, unknown>>
    doc.forEach((c, index) => {
      const key = `${file}#${index}`
      const tier = (c.expected as { tier?: string } | undefined)?.tier
      const headers = ((c.headers as Array<{ name: unknown; value: unknown }> | null) ?? []).map((h) => ({
        name: String(h.name ?? ''),
        value: String(h.value ?? ''),
      }))
      const forwardable = tier === 'Compliant' || tier === 'Acceptable' || AMBIGUOUS_FORWARDABLE.has(key)
      seeds.push({
        key,
        method: String(c.method ?? ''),
        uri: String(c.uri ?? ''),
        version: String(c.version ?? ''),
        headers,
        expect: forwardable ? 'lenient' : 'invalid',
      })
    })
  }
  return seeds
}

/**
 * Bytes as a client would send them: characters up to U+00FF as one byte each (so `\x01`, `\xa0` stay single
 * control / obs-text bytes), anything above as UTF-8.
 */
export function encodeLatin1OrUtf8(text: string): Buffer {
  const parts: Buffer[] = []
  let latin = ''
  for (const ch of text) {
    if ((ch.codePointAt(0) ?? 0) < 0x100) {
      latin += ch
      continue
    }
    parts.push(Buffer.from(latin, 'latin1'), Buffer.from(ch, 'utf8'))
    latin = ''
  }
  parts.push(Buffer.from(latin, 'latin1'))
  return Buffer.concat(parts)
}
