import { test } from 'node:test'
import assert from 'node:assert/strict'
import { configFileSchema } from './schema.js'
import { formatIssues } from './issues.js'

const pools = { p: { backends: [{ url: 'http://127.0.0.1:3001' }] } }

function problems(doc: Record<string, unknown>): string[] {
  const r = configFileSchema.safeParse(doc)
  return r.success ? [] : formatIssues(r.error.issues, doc, 'f')
}

test('listen.normalizePath and listen.allowEncodedSlashes: defaults, values, and what a wrong value says', () => {
  const ok = configFileSchema.parse({ pools, listen: { normalizePath: 'forward', allowEncodedSlashes: true } })
  assert.equal(ok.listen.normalizePath, 'forward')
  assert.equal(ok.listen.allowEncodedSlashes, true)
  const bad = problems({ pools, listen: { normalizePath: 'on', allowEncodedSlashes: 'yes' } })
  assert.equal(bad.length, 2, bad.join('\n'))
  assert.match(bad[0] as string, /^f: listen\.normalizePath: expected "forward", "match-only" or "off"/)
  assert.match(bad[1] as string, /^f: listen\.allowEncodedSlashes: /)
})

test('endpoint ids: visible ASCII only; CR, LF, NUL and spaces are reported with the path', () => {
  const bad = problems({ pools: { p: { backends: [{ url: 'http://a:1', id: 'ok-id_1.x:2' }, { url: 'http://a:2', id: 'evil\r\nSet-Cookie: x=1' }, { url: 'http://a:3', id: 'a b' }, { url: 'http://a:4', id: 'nul\u0000' }] } } })
  const got = ['"evil\\r\\nSet-Cookie: x=1"', '"a b"', '"nul\\u0000"']
  assert.deepEqual(bad, [1, 2, 3].map((i) => `f: pools.p.backends[${i}].id: expected an endpoint id of visible ASCII characters (no spaces, CR, LF or NUL), got ${got[i - 1] as string}`))
})
