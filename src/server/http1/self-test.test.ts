// The start-up choice of the HTTP/1.1 listener: the own listener only when Node's parser binding is there
// and parses canned requests as expected; node:http otherwise. Wrong bindings come from an injected loader.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { chooseHttp1Listener, describeHttp1Listener } from '../http-server.js'
import { loadParserBinding, selfTestParserBinding, type ModuleLoader } from './index.js'

const real = createRequire(import.meta.url)('_http_common') as { HTTPParser: new () => Record<number, unknown> & { execute(b: Buffer): unknown }; methods: string[] }

/** `_http_common` as Node has it, with `change` applied to a copy. */
function loaderWith(change: (common: Record<string, unknown>) => void): ModuleLoader {
  return (name) => {
    assert.equal(name, '_http_common')
    const copy: Record<string, unknown> = { ...real }
    change(copy)
    return copy
  }
}

test("this Node's parser binding passes the self-test: the own listener serves", () => {
  const binding = loadParserBinding()
  assert.ok(binding)
  assert.equal(selfTestParserBinding(binding), undefined)
  const choice = chooseHttp1Listener({})
  assert.equal(choice.kind, 'own')
  assert.equal(describeHttp1Listener(choice), 'lb: HTTP/1.1 listener: own (llhttp binding, self-test passed)')
})

test('LB_HTTP1_SERVER=node chooses node:http and says why', () => {
  const choice = chooseHttp1Listener({ LB_HTTP1_SERVER: 'node' })
  assert.equal(choice.kind, 'node')
  assert.equal(describeHttp1Listener(choice), 'lb: HTTP/1.1 listener: node:http (LB_HTTP1_SERVER=node)')
})

test('a binding with every name but wrong results falls back to node:http, naming what was wrong', () => {
  const cases: [string, ModuleLoader, RegExp][] = [
    // Method indexes that no longer match the names.
    ['shifted method table', loaderWith((c) => (c.methods = [...real.methods].reverse())), /canned pipelined requests parsed as/],
    // A parser that drops body bytes.
    [
      'body dropped',
      loaderWith((c) => {
        class Dropping extends real.HTTPParser {
          override execute(b: Buffer): unknown {
            const body = (this as Record<number, unknown>)[(real.HTTPParser as unknown as Record<string, number>).kOnBody as number] as (chunk: Buffer) => void
            ;(this as Record<number, unknown>)[(real.HTTPParser as unknown as Record<string, number>).kOnBody as number] = (chunk: Buffer) => body(chunk.subarray(1))
            return super.execute(b)
          }
        }
        c.HTTPParser = Dropping
      }),
      /body bc/,
    ],
    // A parser that accepts everything (duplicate Content-Length included).
    [
      'lenient',
      loaderWith((c) => {
        class Lenient extends real.HTTPParser {
          override execute(b: Buffer): unknown {
            const r = super.execute(b)
            return r instanceof Error ? b.length : r
          }
        }
        c.HTTPParser = Lenient
      }),
      /duplicate Content-Length was not refused/,
    ],
    // A parser that throws.
    [
      'throws',
      loaderWith((c) => {
        class Throwing extends real.HTTPParser {
          override execute(): unknown {
            throw new Error('boom')
          }
        }
        c.HTTPParser = Throwing
      }),
      /threw: boom/,
    ],
  ]
  for (const [name, load, why] of cases) {
    const choice = chooseHttp1Listener({}, load)
    assert.equal(choice.kind, 'node', name)
    assert.equal(choice.binding, undefined, name)
    assert.match(choice.reason, /^parser self-test failed: /, name)
    assert.match(choice.reason, why, name)
    assert.match(describeHttp1Listener(choice), /^lb: HTTP\/1\.1 listener: node:http \(parser self-test failed: /)
  }
  // The real binding is still chosen without the loader (a wrong one is never cached).
  assert.equal(chooseHttp1Listener({}).kind, 'own')
})

test('a binding missing a name falls back to node:http', () => {
  for (const drop of ['HTTPParser', 'methods']) {
    const choice = chooseHttp1Listener({}, loaderWith((c) => delete c[drop]))
    assert.equal(choice.kind, 'node', drop)
    assert.match(choice.reason, /lacks a name/)
  }
  const choice = chooseHttp1Listener({}, () => {
    throw new Error('no such module')
  })
  assert.equal(choice.kind, 'node')
})

test('node:http, the fallback, serves what the self-test parses (the canned requests answer as expected)', async (t) => {
  // The fallback is only safe if node:http itself agrees with the canned expectations.
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''} ${Buffer.concat(chunks).toString()}`)
      res.end()
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.after(() => server.close())
  const { port } = server.address() as AddressInfo
  const net = await import('node:net')
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.end('POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: y\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nxyz\r\n0\r\n\r\n'),
    )
    s.resume()
    s.on('close', () => resolve())
  })
  assert.deepEqual(seen, ['POST /a?b=1 abc', 'GET /c xyz'])
})
