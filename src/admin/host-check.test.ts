import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHostCheck } from './host-check.js'

test('createHostCheck: loopback names, the admin host and allowed hosts, with or without a port; a wildcard bind is no name', () => {
  const wild = createHostCheck('0.0.0.0', ['Admin.Example', '::5'])
  for (const h of ['localhost', 'localhost:1', '127.0.0.1', '127.9.9.9:80', '[::1]', '[::1]:9901', 'admin.example:443', '[::5]:1', undefined]) {
    assert.equal(wild(h), true, String(h))
  }
  for (const h of ['0.0.0.0', '0.0.0.0:9901', 'evil.example', '127.0.0.1.evil.example', '[::2]', '', 'admin.example.evil']) {
    assert.equal(wild(h), false, h)
  }
  assert.equal(createHostCheck('10.0.0.5')('10.0.0.5:9901'), true)
})
