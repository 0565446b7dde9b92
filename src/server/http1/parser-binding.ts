import { createRequire } from 'node:module'

/**
 * Node's own HTTP/1.1 parser (llhttp, the C++ binding behind `node:http`), as `_http_common` exports it.
 * The balancer's HTTP/1.1 listener parses with it directly, so requests are read with exactly the
 * strictness of `node:http` (same parser, same strict flags) without `IncomingMessage`/`ServerResponse`.
 * The module is public but undocumented: its shape is checked here, and when it differs (a future Node)
 * the listener falls back to `node:http` (see `loadParserBinding`).
 */
export interface ParserBinding {
  readonly HTTPParser: HttpParserClass
  /** The method names `node:http` accepts (`_http_common.methods`), in llhttp's order. */
  readonly methods: readonly string[]
  /**
   * Method names by the code llhttp reports in `kOnHeadersComplete`. Not `methods` itself: llhttp's
   * codes have gaps where RTSP methods sit (QUERY is code 46 but `methods[34]`), so the table is built
   * by parsing each name once (see {@link methodCodes}); a code missing from it is no method to forward.
   */
  readonly methodByCode: readonly (string | undefined)[]
  readonly kOnMessageBegin: number
  readonly kOnHeaders: number
  readonly kOnHeadersComplete: number
  readonly kOnBody: number
  readonly kOnMessageComplete: number
  readonly kOnExecute: number
}

export interface HttpParserClass {
  new (): HttpParser
  readonly REQUEST: number
}

/** The parts of the binding's parser object the listener uses. */
export interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void
  /** Reads straight from the socket's handle: no JS `data` event per packet. */
  consume(handle: unknown): void
  unconsume(): void
  execute(data: Buffer): number | Error
  finish(): number | Error | undefined
  getCurrentBuffer(): Buffer
  close(): void
  [callback: number]: unknown
}

/** Loads a Node built-in module by name (`_http_common`); injectable so that tests can hand over a wrong one. */
export type ModuleLoader = (name: string) => unknown

const requireBuiltin: ModuleLoader = (name) => createRequire(import.meta.url)(name)

let cached: ParserBinding | null | undefined

/**
 * The binding, or undefined when `_http_common` (as `load` returns it) lacks a name the listener uses.
 * Only the shape is checked here; {@link selfTestParserBinding} checks that it parses as expected.
 * The result for Node's own module is cached.
 */
export function loadParserBinding(load?: ModuleLoader): ParserBinding | undefined {
  if (load === undefined && cached !== undefined) return cached ?? undefined
  const binding = shapeOf(load ?? requireBuiltin)
  if (load === undefined) cached = binding ?? null
  return binding
}

function shapeOf(load: ModuleLoader): ParserBinding | undefined {
  try {
    const common = load('_http_common') as { HTTPParser?: unknown; methods?: unknown } | undefined
    const P = common?.HTTPParser as (HttpParserClass & Record<string, unknown>) | undefined
    const methods = common?.methods
    if (typeof P !== 'function' || !Array.isArray(methods)) return undefined
    const keys = ['kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kOnExecute'] as const
    if (typeof P.REQUEST !== 'number' || keys.some((k) => typeof P[k] !== 'number')) return undefined
    const proto = P.prototype as Record<string, unknown>
    for (const m of ['initialize', 'consume', 'unconsume', 'execute', 'finish', 'getCurrentBuffer', 'close']) {
      if (typeof proto[m] !== 'function') return undefined
    }
    const names = methods as string[]
    return {
      HTTPParser: P,
      methods: names,
      methodByCode: methodCodes(P, P.kOnHeadersComplete as number, names),
      kOnMessageBegin: P.kOnMessageBegin as number,
      kOnHeaders: P.kOnHeaders as number,
      kOnHeadersComplete: P.kOnHeadersComplete as number,
      kOnBody: P.kOnBody as number,
      kOnMessageComplete: P.kOnMessageComplete as number,
      kOnExecute: P.kOnExecute as number,
    }
  } catch {
    return undefined
  }
}

/**
 * The code llhttp reports for each of `names`, learnt by parsing `NAME / HTTP/1.1` once per name (35
 * tiny parses, once per process). A name the parser refuses is left out.
 */
function methodCodes(P: HttpParserClass, kOnHeadersComplete: number, names: readonly string[]): (string | undefined)[] {
  const table: (string | undefined)[] = []
  for (const name of names) {
    const parser = new P()
    parser.initialize(P.REQUEST, {}, 16 * 1024, 0)
    let code = -1
    parser[kOnHeadersComplete] = (_major: number, _minor: number, _headers: unknown, method: number): number => {
      code = method
      return 0
    }
    try {
      parser.execute(Buffer.from(`${name} / HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1'))
    } catch {
      // A parser that throws here is caught again, and reported, by the self-test.
    } finally {
      parser.close()
    }
    if (code >= 0 && table[code] === undefined) table[code] = name
  }
  return table
}

/** What the self-test's canned bytes must parse to: one line per message event. */
const CANNED = Buffer.from(
  'POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
    'GET /c HTTP/1.1\r\nHost: y\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nxyz\r\n0\r\n\r\n',
  'latin1',
)
const EXPECTED = [
  'begin',
  'head POST /a?b=1 1.1 [Host,x,Content-Length,3] upgrade=false keepAlive=true',
  'body abc',
  'complete',
  'begin',
  'head GET /c 1.1 [Host,y,Transfer-Encoding,chunked,Connection,close] upgrade=false keepAlive=false',
  'body xyz',
  'complete',
].join('\n')
/** Duplicate Content-Length: node:http's parser refuses it; so must this one. */
const AMBIGUOUS = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'latin1')

/**
 * Parses canned requests through the binding exactly as the listener's connections do (same callbacks,
 * same argument order): a request with a body and a pipelined chunked one in one buffer, then a request
 * with duplicate `Content-Length`, which must be refused. Returns undefined when everything came out as
 * expected, else what differed: the listener then falls back to `node:http`. Never throws.
 */
export function selfTestParserBinding(binding: ParserBinding): string | undefined {
  try {
    const got = parseEvents(binding, CANNED)
    if (got.error !== undefined) return `the canned pipelined requests were refused (${got.error})`
    if (got.events.join('\n') !== EXPECTED) return `the canned pipelined requests parsed as ${JSON.stringify(got.events)}`
    const bad = parseEvents(binding, AMBIGUOUS)
    if (bad.error !== 'HPE_UNEXPECTED_CONTENT_LENGTH') return `a duplicate Content-Length was not refused (${bad.error ?? 'accepted'})`
    return undefined
  } catch (err) {
    return `the parser threw: ${(err as Error).message}`
  }
}

function parseEvents(binding: ParserBinding, bytes: Buffer): { events: string[]; error?: string } {
  const events: string[] = []
  const parser = new binding.HTTPParser()
  parser.initialize(binding.HTTPParser.REQUEST, {}, 16 * 1024, 0)
  parser[binding.kOnMessageBegin] = () => events.push('begin')
  parser[binding.kOnHeaders] = () => events.push('partial headers')
  parser[binding.kOnHeadersComplete] = (major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _s: unknown, _m: unknown, upgrade: boolean, keepAlive: boolean): number => {
    events.push(`head ${binding.methods[method] ?? '?'} ${url ?? ''} ${major}.${minor} [${(headers ?? []).join(',')}] upgrade=${upgrade} keepAlive=${keepAlive}`)
    return 0
  }
  parser[binding.kOnBody] = (chunk: unknown) => events.push(`body ${Buffer.isBuffer(chunk) ? chunk.toString('latin1') : typeof chunk}`)
  parser[binding.kOnMessageComplete] = () => events.push('complete')
  try {
    const ret = parser.execute(bytes)
    if (ret instanceof Error) return { events, error: (ret as Error & { code?: string }).code ?? ret.message }
    if (ret !== bytes.length) return { events, error: `consumed ${String(ret)} of ${bytes.length} bytes` }
    return { events }
  } finally {
    parser.close()
  }
}
