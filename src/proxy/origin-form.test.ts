import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toOriginForm } from './origin-form.js'

test('toOriginForm keeps path and query of an absolute target, and leaves other forms alone', () => {
  assert.equal(toOriginForm('/a/b?c=1'), '/a/b?c=1')
  assert.equal(toOriginForm('http://h.example/a/b?c=1'), '/a/b?c=1')
  assert.equal(toOriginForm('https://h.example:8443/'), '/')
  assert.equal(toOriginForm('http://h.example'), '/')
  assert.equal(toOriginForm('http://h.example?q=1'), '/?q=1')
  assert.equal(toOriginForm('*'), '*')
})
