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
  /** Method names by the index llhttp reports. */
  readonly methods: readonly string[]
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

let cached: ParserBinding | null | undefined

/** The binding, or undefined when this Node's `_http_common` does not have the expected shape. */
export function loadParserBinding(): ParserBinding | undefined {
  if (cached !== undefined) return cached ?? undefined
  cached = null
  try {
    const common = createRequire(import.meta.url)('_http_common') as { HTTPParser?: unknown; methods?: unknown }
    const P = common.HTTPParser as (HttpParserClass & Record<string, unknown>) | undefined
    const methods = common.methods
    if (typeof P !== 'function' || !Array.isArray(methods)) return undefined
    const keys = ['kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kOnExecute'] as const
    if (typeof P.REQUEST !== 'number' || keys.some((k) => typeof P[k] !== 'number')) return undefined
    const proto = P.prototype as Record<string, unknown>
    for (const m of ['initialize', 'consume', 'unconsume', 'execute', 'finish', 'getCurrentBuffer', 'close']) {
      if (typeof proto[m] !== 'function') return undefined
    }
    cached = {
      HTTPParser: P,
      methods: methods as string[],
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
  return cached
}
