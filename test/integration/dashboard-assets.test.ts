// The dashboard's page and static files as a browser gets them from the admin server of a real balancer
// process: no inline script or style (the CSP forbids them), files linked with their content hash, ETags
// honoured with 304, and cache lifetimes that let a new version show at once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startAdminBalancer } from '../helpers/admin.js'
import { httpRequest, startTestBackend } from '../helpers/index.js'

test('dashboard: page and static files carry ETags, answer 304 when current, and cache only versioned files for long', { timeout: 60_000 }, async (t) => {
  const backend = await startTestBackend({ name: 'a' })
  t.after(() => backend.close())
  const lb = await startAdminBalancer({ workers: 1, log: { accessLog: false }, pools: { web: { backends: [{ url: backend.url }] } } })
  t.after(() => lb.stop())

  const page = await lb.call('GET', '/', { token: null })
  assert.equal(page.status, 200)
  assert.match(String(page.headers['content-type']), /^text\/html/)
  const csp = String(page.headers['content-security-policy'])
  assert.match(csp, /script-src 'self'(;|$)/)
  assert.match(csp, /style-src 'self'(;|$)/)
  assert.doesNotMatch(csp, /unsafe-inline/)
  assert.doesNotMatch(page.body, /<style|<script>| style="/, 'no inline style or script left in the page')
  assert.equal(page.headers['cache-control'], 'private, no-cache')
  const css = /href="(\/dashboard\.css\?v=[\w-]+)"/.exec(page.body)?.[1]
  const js = /src="(\/dashboard\.js\?v=[\w-]+)"/.exec(page.body)?.[1]
  assert.ok(css !== undefined && js !== undefined, 'the page links its stylesheet and script with a version')

  for (const [url, type, sample] of [[css, /^text\/css/, /\.legend/], [js, /^text\/javascript/, /EventSource\('\/api\/events'\)/]] as const) {
    const r = await lb.call('GET', url, { token: null })
    assert.equal(r.status, 200, url)
    assert.match(String(r.headers['content-type']), type)
    assert.match(r.body, sample)
    assert.equal(r.headers['cache-control'], 'private, max-age=31536000, immutable', `${url}: the versioned URL is cacheable for good`)
    const etag = String(r.headers.etag)
    assert.match(etag, /^"[\w-]{16}"$/)
    assert.equal(url.split('?v=')[1], etag.slice(1, -1), 'the version in the URL is the ETag')

    const again = await lb.call('GET', url, { token: null })
    assert.equal(again.headers.etag, etag, 'the same bytes keep the same ETag')
    const current = await httpRequest(`${lb.admin}${url}`, { headers: { 'if-none-match': etag } })
    assert.equal(current.status, 304, `${url}: a current copy is not sent again`)
    assert.equal(current.body, '')
    const unversioned = await lb.call('GET', url.split('?')[0] as string, { token: null })
    assert.equal(unversioned.status, 200)
    assert.equal(unversioned.headers['cache-control'], 'private, no-cache', 'without the current version: revalidate')
  }

  const etag = String(page.headers.etag)
  const notModified = await httpRequest(`${lb.admin}/`, { headers: { 'if-none-match': `"other", W/${etag}` } })
  assert.equal(notModified.status, 304, 'a list naming the current ETag (weakly) gets 304')
  assert.equal(notModified.headers.etag, etag)
  const stale = await httpRequest(`${lb.admin}/index.html`, { headers: { 'if-none-match': '"other"' } })
  assert.equal(stale.status, 200)
  assert.equal(stale.body, page.body)
  const head = await httpRequest(`${lb.admin}${css}`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.body, '')
  assert.equal(head.headers.etag, (await lb.call('GET', css, { token: null })).headers.etag)
  const post = await lb.call('POST', css, { body: {} })
  assert.equal(post.status, 405)
})
