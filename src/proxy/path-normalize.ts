/**
 * Request-path normalization for route matching, as Envoy's `normalize_path` + `merge_slashes` do:
 * percent-escapes of unreserved characters are decoded (`/%6Cogin` -> `/login`), other escapes get
 * upper-case hex (RFC 3986 6.2.2.1), `\` reads as `/`, dot-segments are removed (RFC 3986 5.2.4; `..`
 * above the root stays at the root), then runs of slashes are merged. Without it `//login`,
 * `/./login` or `/%6Cogin` would miss a `pathPrefix: /login` route that the backend then serves.
 *
 * An encoded `/` or `\` (`%2F`, `%5C`, any case) is refused unless allowed: a backend that decodes it
 * would see a different path from the one that was routed, and normalizing it away would change the
 * resource named.
 *
 * Cost: one scan of the path without allocation when it holds no `%`, no `\`, no `//` and no `.` or `..`
 * segment (the common case, `/static/app.js` included); only such paths are rebuilt.
 */

/** How the path of a request is normalized (`listen.normalizePath`). */
export type NormalizePathMode = 'forward' | 'match-only' | 'off'

/** The listener's path policy, read on every request. */
export interface PathPolicy {
  /**
   * `match-only` (default): routes match the normalized path, the backend gets the path as sent;
   * `forward`: the backend gets the normalized path too; `off`: routes match the path as sent.
   */
  readonly mode: NormalizePathMode
  /** Accept `%2F` / `%5C` in paths (default false: 400). Applies in every mode. */
  readonly allowEncodedSlashes: boolean
}

/** The default policy: match on the normalized path, forward the path as sent, refuse encoded slashes. */
export const DEFAULT_PATH_POLICY: PathPolicy = { mode: 'match-only', allowEncodedSlashes: false }

/** Message of the 400 for a refused encoded slash. */
export const ENCODED_SLASH_MESSAGE = 'encoded "/" or "\\" (%2F, %5C) in the request path'

/**
 * The path routes are matched on for `path` (the request target's path, query excluded), by `policy`;
 * undefined when the path must be refused with 400 (an encoded slash that is not allowed).
 * Returns `path` itself (no allocation) when there is nothing to change or the mode is `off`.
 * Paths that do not start with `/` (`*`, authority form) are returned unchanged.
 */
export function matchPathFor(path: string, policy: PathPolicy): string | undefined {
  if (policy.mode === 'off') {
    if (!policy.allowEncodedSlashes && path.indexOf('%') !== -1 && hasEncodedSlash(path)) return undefined
    return path
  }
  return normalizePath(path, policy.allowEncodedSlashes)
}

/**
 * The request target sent upstream: `url` as sent, or, when normalization changed the path and either
 * the mode is `forward` or the route rewrites the path (`rewrites`), the normalized `matchPath` followed
 * by the original query. A route's `stripPrefix` applies to the path it matched: rewriting the path as
 * sent would miss the prefix (`//api/x` matched `/api` but does not start with it).
 */
export function forwardTargetFor(url: string, rawPath: string, matchPath: string, policy: PathPolicy, rewrites = false): string {
  if (matchPath === rawPath || (policy.mode !== 'forward' && !rewrites)) return url
  return matchPath + url.slice(rawPath.length)
}

/**
 * For upgrades (one call): the path to match, the target to forward, and the target a route that
 * rewrites the path starts from (see {@link forwardTargetFor}), for the request target `url`; undefined
 * when it must be refused with 400. Allocates; upgrades are rare.
 */
export function resolveTarget(url: string, policy: PathPolicy): { path: string; target: string; rewriteTarget: string } | undefined {
  const q = url.indexOf('?')
  const rawPath = q === -1 ? url : url.slice(0, q)
  const path = matchPathFor(rawPath, policy)
  if (path === undefined) return undefined
  return { path, target: forwardTargetFor(url, rawPath, path, policy), rewriteTarget: forwardTargetFor(url, rawPath, path, policy, true) }
}

/**
 * Normalizes `path` (see the module comment). Returns `path` itself when already normal, undefined
 * when it holds an encoded slash and `allowEncodedSlashes` is false.
 */
export function normalizePath(path: string, allowEncodedSlashes = false): string | undefined {
  if (path.charCodeAt(0) !== 47 /* / */ || !needsWork(path)) return path
  const decoded = decodeUnreserved(path, allowEncodedSlashes)
  if (decoded === undefined) return undefined
  return mergeSlashes(removeDotSegments(decoded))
}

/** Fast scan: whether any rule could change `path`. Allocation-free. */
function needsWork(path: string): boolean {
  const n = path.length
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i)
    if (c === 37 /* % */ || c === 92 /* \ */) return true
    if (c !== 47 /* / */) continue
    const next = i + 1 < n ? path.charCodeAt(i + 1) : -1
    if (next === 47) return true
    if (next === 46 /* . */) {
      // `/.` then end, `/` or `\`; or `/..` then end, `/` or `\`: a dot-segment.
      const a = i + 2 < n ? path.charCodeAt(i + 2) : -1
      if (a === -1 || a === 47 || a === 92) return true
      if (a === 46) {
        const b = i + 3 < n ? path.charCodeAt(i + 3) : -1
        if (b === -1 || b === 47 || b === 92) return true
      }
    }
  }
  return false
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  const l = c | 0x20
  if (l >= 97 && l <= 102) return l - 87
  return -1
}

/** RFC 3986 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126
}

const HEX = '0123456789ABCDEF'

/** Whether `path` holds `%2F` or `%5C` (any case). */
function hasEncodedSlash(path: string): boolean {
  for (let i = path.indexOf('%'); i !== -1 && i + 2 < path.length; i = path.indexOf('%', i + 1)) {
    const hi = hexValue(path.charCodeAt(i + 1))
    const lo = hexValue(path.charCodeAt(i + 2))
    if (hi >= 0 && lo >= 0 && (hi * 16 + lo === 0x2f || hi * 16 + lo === 0x5c)) return true
  }
  return false
}

/**
 * Decodes escapes of unreserved characters, upper-cases the hex of the others, turns `\` into `/`.
 * A `%` not followed by two hex digits is kept as it is. Undefined on a refused encoded slash.
 */
function decodeUnreserved(path: string, allowEncodedSlashes: boolean): string | undefined {
  let out = ''
  let from = 0
  const n = path.length
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i)
    if (c === 92) {
      out += path.slice(from, i) + '/'
      from = i + 1
      continue
    }
    if (c !== 37 || i + 2 >= n) continue
    const hi = hexValue(path.charCodeAt(i + 1))
    const lo = hexValue(path.charCodeAt(i + 2))
    if (hi < 0 || lo < 0) continue
    const v = hi * 16 + lo
    if ((v === 0x2f || v === 0x5c) && !allowEncodedSlashes) return undefined
    out += path.slice(from, i) + (isUnreserved(v) ? String.fromCharCode(v) : `%${HEX[hi] as string}${HEX[lo] as string}`)
    from = i + 3
    i += 2
  }
  return from === 0 ? path : out + path.slice(from)
}

/**
 * RFC 3986 5.2.4 on an absolute path, segment by segment: `.` is dropped, `..` drops the segment
 * before it (never above the root); either as the last segment leaves a trailing slash. Empty
 * segments (`//`) are kept here, as the RFC does; they are merged afterwards.
 */
function removeDotSegments(path: string): string {
  const segments = path.slice(1).split('/')
  const out: string[] = []
  const last = segments.length - 1
  for (let i = 0; i <= last; i++) {
    const s = segments[i] as string
    if (s === '.' || s === '..') {
      if (s === '..') out.pop()
      if (i === last) out.push('')
    } else {
      out.push(s)
    }
  }
  return `/${out.join('/')}`
}

/** Collapses every run of slashes into one. */
function mergeSlashes(path: string): string {
  return path.indexOf('//') === -1 ? path : path.replace(/\/{2,}/g, '/')
}
