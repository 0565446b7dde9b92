import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPrettyStream, PRETTY_MISSING } from './pretty.js'

test('createPrettyStream prettifies JSON lines into a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-pretty-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'logs', 'out.log')
  const stream = createPrettyStream(file)
  assert.ok(stream !== undefined)
  stream.write('{"level":"warn","time":1700000000000,"pool":"web","msg":"web/a unhealthy"}\n')
  stream.end()
  await new Promise((r) => (stream as unknown as NodeJS.WritableStream).once('finish', r))
  const text = await (async () => {
    for (let i = 0; i < 100; i++) {
      const got = existsSync(file) ? readFileSync(file, 'utf8') : ''
      if (got.includes('\n')) return got
      await new Promise((r) => setTimeout(r, 20))
    }
    return readFileSync(file, 'utf8')
  })()
  assert.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: web\/a unhealthy\n\s+pool: "web"\n$/)
})

test('without pino-pretty: undefined (the caller keeps JSON) and one message on stderr saying how to install it', (t) => {
  const written: string[] = []
  t.mock.method(process.stderr, 'write', (chunk: string) => (written.push(chunk), true))
  assert.equal(createPrettyStream(1, 'pino-pretty-that-is-not-installed'), undefined)
  assert.equal(createPrettyStream(1, 'pino-pretty-that-is-not-installed'), undefined)
  t.mock.restoreAll()
  assert.deepEqual(written, [`${PRETTY_MISSING}\n`])
  assert.match(PRETTY_MISSING, /npm install pino-pretty/)
})
