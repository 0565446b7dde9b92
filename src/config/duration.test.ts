import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatDuration, formatSize, parseDuration, parseSize, DURATION_PATTERN, SIZE_PATTERN } from './duration.js'

test('parseDuration accepts units and plain milliseconds', () => {
  assert.equal(parseDuration('250ms'), 250)
  assert.equal(parseDuration('5s'), 5000)
  assert.equal(parseDuration('1.5s'), 1500)
  assert.equal(parseDuration('1m'), 60_000)
  assert.equal(parseDuration('1h'), 3_600_000)
  assert.equal(parseDuration('1d'), 86_400_000)
  assert.equal(parseDuration(' 10 s '), 10_000)
  assert.equal(parseDuration('40'), 40)
  assert.equal(parseDuration(40), 40)
  assert.equal(parseDuration(0), 0)
  assert.equal(parseDuration(2.6), 3)
})

test('parseDuration rejects garbage', () => {
  for (const bad of ['', 'abc', '5 secs', '-1s', '5S', '1w', 's', -5, Number.NaN, Infinity, null, true, {}, []]) {
    assert.equal(parseDuration(bad), undefined, String(bad))
  }
})

test('parseSize accepts binary and decimal units and plain bytes', () => {
  assert.equal(parseSize('512B'), 512)
  assert.equal(parseSize('16KiB'), 16_384)
  assert.equal(parseSize('16kib'), 16_384)
  assert.equal(parseSize('1MiB'), 1_048_576)
  assert.equal(parseSize('10MB'), 10_000_000)
  assert.equal(parseSize('2K'), 2048)
  assert.equal(parseSize('1GiB'), 1024 ** 3)
  assert.equal(parseSize('100'), 100)
  assert.equal(parseSize(100), 100)
})

test('parseSize rejects garbage', () => {
  for (const bad of ['', '16 kilobytes', '1TB', '-1KiB', 'KiB', -1, Number.NaN, null, false]) {
    assert.equal(parseSize(bad), undefined, String(bad))
  }
})

test('the JSON schema patterns agree with the parsers', () => {
  const d = new RegExp(DURATION_PATTERN)
  const s = new RegExp(SIZE_PATTERN)
  for (const ok of ['250ms', '5s', '1.5m', '1h', '40']) assert.ok(d.test(ok) && parseDuration(ok) !== undefined, ok)
  for (const bad of ['5 secs', '1w', '-1s']) assert.ok(!d.test(bad) && parseDuration(bad) === undefined, bad)
  for (const ok of ['512B', '16KiB', '10MB', '2K', '100', '16kib']) assert.ok(s.test(ok) && parseSize(ok) !== undefined, ok)
  for (const bad of ['1TB', '16 kilobytes']) assert.ok(!s.test(bad) && parseSize(bad) === undefined, bad)
})

test('formatDuration and formatSize pick the largest exact unit', () => {
  assert.equal(formatDuration(30_000), '30s')
  assert.equal(formatDuration(90_000), '90s')
  assert.equal(formatDuration(120_000), '2m')
  assert.equal(formatDuration(250), '250ms')
  assert.equal(formatDuration(0), '0ms')
  assert.equal(formatSize(16_384), '16KiB')
  assert.equal(formatSize(1000), '1000B')
})
