import { createRequire } from 'node:module'

/**
 * Node's llhttp binding (`_http_common.HTTPParser`, the parser behind `node:http`) set up to read
 * responses. The listener (server/http1/parser-binding.ts) uses the same binding for requests; it sits
 * in a higher layer, so the few names needed here are looked up again. When the module lacks them (a
 * future Node), {@link loadResponseParser} returns undefined and pools keep using undici.
 */
export interface ResponseParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void
  execute(data: Buffer): number | Error
  finish(): number | Error | undefined
  close(): void
  [callback: number]: unknown
}

export interface ResponseParserClass {
  new (): ResponseParser
  readonly RESPONSE: number
  readonly kOnMessageBegin: number
  readonly kOnHeaders: number
  readonly kOnHeadersComplete: number
  readonly kOnBody: number
  readonly kOnMessageComplete: number
}

let cached: ResponseParserClass | null | undefined

/** The parser class, or undefined when Node's internal module does not have the expected shape. */
export function loadResponseParser(): ResponseParserClass | undefined {
  if (cached !== undefined) return cached ?? undefined
  cached = null
  try {
    const common = createRequire(import.meta.url)('_http_common') as { HTTPParser?: unknown }
    const P = common.HTTPParser as (ResponseParserClass & Record<string, unknown>) | undefined
    if (typeof P !== 'function') return undefined
    for (const k of ['RESPONSE', 'kOnMessageBegin', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete']) if (typeof P[k] !== 'number') return undefined
    const proto = P.prototype as Record<string, unknown>
    for (const m of ['initialize', 'execute', 'finish', 'close']) if (typeof proto[m] !== 'function') return undefined
    cached = P
  } catch {
    cached = null
  }
  return cached ?? undefined
}
