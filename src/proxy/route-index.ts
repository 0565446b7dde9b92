/**
 * An index over ordered routes so that a request looks only at the routes that can match it, in their
 * configured order, instead of testing every route: with 1 000 routes a request matching the last one
 * would otherwise run 1 000 checks.
 *
 * Each route goes into one bucket, by its most selective indexable condition:
 * - exact hosts only (no `*.` wildcard): under each of its host names;
 * - else a path prefix, or the literal start of a path regex anchored with `^` (`^/x1/[0-9]+$` -> `/x1/`):
 *   under that prefix, found by looking up the request path cut at each distinct prefix length (a
 *   handful of map lookups, however many prefixes);
 * - else (wildcard hosts, regex only, method or header only, no condition): scanned for every request.
 * The candidates of a request are the union of its host bucket, its prefix buckets and the scanned ones,
 * visited in ascending route order; the caller checks every condition of each candidate, so the first
 * candidate that passes is exactly the first route of the linear scan that would pass.
 */
export interface IndexableRoute {
  readonly hosts: { exact: Set<string>; suffixes: string[] } | undefined
  readonly pathPrefix: string | undefined
  readonly pathRegex: RegExp | undefined
}

/** Route positions (ascending) that may match a request; see the module comment. */
export class RouteIndex {
  private readonly byHost = new Map<string, number[]>()
  private readonly byPrefix = new Map<string, number[]>()
  /** Distinct prefix lengths, ascending. */
  private readonly prefixLengths: number[]
  private readonly scanned: number[] = []
  /** Reused per lookup: the candidate lists of one request (never more than 2 + distinct prefix lengths). */
  private readonly lists: (readonly number[])[] = []
  private readonly heads: number[] = []

  constructor(routes: readonly IndexableRoute[]) {
    const lengths = new Set<number>()
    routes.forEach((r, i) => {
      if (r.hosts !== undefined && r.hosts.suffixes.length === 0) {
        for (const h of r.hosts.exact) push(this.byHost, h, i)
        return
      }
      const prefix = r.pathPrefix ?? (r.pathRegex === undefined ? undefined : literalStart(r.pathRegex))
      if (prefix !== undefined) {
        push(this.byPrefix, prefix, i)
        lengths.add(prefix.length)
      } else {
        this.scanned.push(i)
      }
    })
    this.prefixLengths = [...lengths].sort((a, b) => a - b)
  }

  /**
   * Calls `test` on each candidate position in ascending order until it returns true; returns that
   * position, or -1. `hostname` is lower case without port (ignored when no route is indexed by host).
   */
  find(hostname: string, path: string, test: (position: number) => boolean): number {
    const lists = this.lists
    lists.length = 0
    const host = this.byHost.size > 0 ? this.byHost.get(hostname) : undefined
    if (host !== undefined) lists.push(host)
    for (const len of this.prefixLengths) {
      if (len > path.length) break
      const bucket = this.byPrefix.get(path.slice(0, len))
      if (bucket !== undefined) lists.push(bucket)
    }
    if (this.scanned.length > 0) lists.push(this.scanned)
    if (lists.length === 1) {
      for (const i of lists[0] as readonly number[]) if (test(i)) return i
      return -1
    }
    return this.merge(test)
  }

  /** Visits the union of `lists` in ascending order (each list is ascending; a position is in one list only). */
  private merge(test: (position: number) => boolean): number {
    const lists = this.lists
    const heads = this.heads
    heads.length = lists.length
    heads.fill(0)
    for (;;) {
      let best = -1
      let bestValue = Infinity
      for (let k = 0; k < lists.length; k++) {
        const list = lists[k] as readonly number[]
        const h = heads[k] as number
        if (h < list.length && (list[h] as number) < bestValue) {
          bestValue = list[h] as number
          best = k
        }
      }
      if (best === -1) return -1
      heads[best] = (heads[best] as number) + 1
      if (test(bestValue)) return bestValue
    }
  }
}

/**
 * The text every match of `re` starts with, when `re` is anchored at the start (`^`, no flags) and has
 * no alternation; undefined otherwise or when that text is empty. Conservative: it stops at the first
 * character that is not plainly literal, and drops a literal that a quantifier makes optional.
 */
export function literalStart(re: RegExp): string | undefined {
  const src = re.source
  if (re.flags !== '' || !src.startsWith('^') || src.includes('|')) return undefined
  let out = ''
  for (let i = 1; i < src.length; i++) {
    let ch = src[i] as string
    let width = 1
    if (ch === '\\') {
      const next = src[i + 1]
      // An escaped punctuation character is itself (`\/`, `\.`); `\d`, `\w`, `\b`... are classes.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) break
      ch = next
      width = 2
    } else if ('.*+?()[]{}^$'.includes(ch)) {
      break
    }
    const after = src[i + width]
    if (after === '*' || after === '?' || after === '{') break
    out += ch
    i += width - 1
  }
  return out === '' ? undefined : out
}

function push(map: Map<string, number[]>, key: string, position: number): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [position])
  else if (list[list.length - 1] !== position) list.push(position)
}
