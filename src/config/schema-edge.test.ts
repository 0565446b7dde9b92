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
