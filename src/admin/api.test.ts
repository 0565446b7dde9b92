import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseBackend } from './api.js'

test('an added backend is one address: an srv+ URL is refused with the reason (the worker could not connect to it)', () => {
  assert.deepEqual(parseBackend({ url: 'srv+http://_http._tcp.api.internal' }), {
    problems: ['url: expected an http:// or https:// URL (srv+ URLs are discovered from the configuration file, not added one by one)'],
  })
  const ok = parseBackend({ url: 'http://10.0.0.5:3000', id: 'x' })
  assert.ok('backend' in ok && ok.backend.url === 'http://10.0.0.5:3000')
})
