/**
 * Consistent hashing with bounded loads: a request key (client ip, header or cookie value) maps to the
 * first endpoint clockwise from the key's point on a hash ring, so the same key keeps reaching the same
 * endpoint and adding or removing one endpoint out of N moves only about 1/N of the keys. To keep a hot
 * key from overloading its endpoint, an endpoint whose in-flight count reached its bound
 * `ceil(c * (totalInFlight + 1) * weight / totalWeight)` is skipped and the walk continues clockwise
 * (with equal weights this is the paper's `ceil(c * (m + 1) / n)`).
 *
 * Ring: "ketama"-style virtual nodes. Each endpoint owns `round(weight * scale)` points (at least 1),
 * `hash32("<id>#<k>")` for k = 0, 1, ...; the lightest endpoint gets {@link POINTS_PER_MIN_WEIGHT}
 * points, and the whole ring is capped at {@link MAX_RING_POINTS}. Points depend only on the id, so
 * workers and instances agree on the ring whatever the order of the ready set. Chosen over Maglev
 * because the bounded-load walk is a natural clockwise walk on a ring.
 *
 * Sources: Karger et al., "Consistent Hashing and Random Trees", STOC 1997; Mirrokni, Thorup,
 * Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018 (https://arxiv.org/abs/1608.01350).
 * Cost per pick: O(log P) binary search over P points, plus a walk that visits each endpoint at most
 * once; O(n) once per pick when the key's endpoint is busy (the bound needs the total in flight).
 * No allocation. Load signal: `EndpointLoad.inFlight(id)`.
 * No key (`hashKey` undefined or ''): weighted random pick, as `random` does.
 */
import type { Balancer, Endpoint, EndpointLoad, PickContext } from '../core/index.js'
import { LbError } from '../core/index.js'
import { eligibleEndpoints, excludeSet } from './eligible.js'
import { hash32 } from './hash.js'
import { RandomBalancer } from './random.js'

/** Default bound factor `c`: an endpoint takes at most 25% more than its fair share of the in-flight requests. */
export const DEFAULT_HASH_LOAD_FACTOR = 1.25
/** Ring points given to the endpoint of smallest weight (others proportionally more). */
export const POINTS_PER_MIN_WEIGHT = 160
/** Upper bound on the ring size (memory: 8 bytes per point). */
export const MAX_RING_POINTS = 1 << 16

/** Options of {@link ConsistentHashBalancer}. */
export interface ConsistentHashOptions {
  /**
   * Bound factor `c` >= 1 (default 1.25). An endpoint is skipped when its in-flight count is at least
   * `ceil(c * (totalInFlight + 1) * weight / totalWeight)`. `Infinity` turns the bound off (plain
   * consistent hashing). A value below 1 or NaN throws `LbError('LB_ERR_CONFIG')`.
   */
  hashLoadFactor?: number | undefined
}

/** Index of an endpoint in the packed sort key (`hash * 2^21 + index` stays below 2^53). */
const INDEX_BITS = 2 ** 21

/** Consistent hashing with bounded loads over the endpoints of weight > 0. See the file comment. */
export class ConsistentHashBalancer implements Balancer {
  private endpoints: readonly Endpoint[] = []
  /** Sorted ring point hashes, and for each point the index of its endpoint. */
  private points = new Uint32Array(0)
  private owners = new Uint32Array(0)
  /** `visited[i] === epoch` when endpoint i was already considered in the current pick. */
  private visited = new Uint32Array(0)
  private epoch = 0
  private readonly fallback: RandomBalancer
  private readonly loadFactor: number

  /**
   * @param load in-flight counts for the bound.
   * @param random float in [0, 1), used only when a request has no key.
   */
  constructor(
    private readonly load: EndpointLoad,
    random: () => number,
    options: ConsistentHashOptions = {},
  ) {
    const c = options.hashLoadFactor ?? DEFAULT_HASH_LOAD_FACTOR
    if (!(c >= 1)) throw new LbError('LB_ERR_CONFIG', `hashLoadFactor: expected a number >= 1, got ${String(c)}`)
    this.loadFactor = c
    this.fallback = new RandomBalancer(random)
  }

  /** Rebuilds the ring from the ready set. Allocates (O(P log P)); never called per request. */
  reset(ready: readonly Endpoint[]): void {
    // Sorted by id so that even the order of two points with equal hashes is the same everywhere.
    const endpoints = eligibleEndpoints(ready)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, INDEX_BITS)
    this.endpoints = endpoints
    this.fallback.reset(endpoints)
    this.visited = new Uint32Array(endpoints.length)
    this.epoch = 0
    let minWeight = Infinity
    let totalWeight = 0
    for (const e of endpoints) {
      minWeight = Math.min(minWeight, e.weight)
      totalWeight += e.weight
    }
    const scale = Math.min(POINTS_PER_MIN_WEIGHT / minWeight, MAX_RING_POINTS / totalWeight)
    const counts = endpoints.map((e) => Math.max(1, Math.round(e.weight * scale)))
    const packed = new Float64Array(counts.reduce((a, b) => a + b, 0))
    let p = 0
    endpoints.forEach((e, i) => {
      for (let k = 0; k < (counts[i] ?? 0); k++) packed[p++] = hash32(`${e.id}#${k}`) * INDEX_BITS + i
    })
    packed.sort()
    this.points = new Uint32Array(packed.length)
    this.owners = new Uint32Array(packed.length)
    packed.forEach((v, k) => {
      this.points[k] = Math.floor(v / INDEX_BITS)
      this.owners[k] = v % INDEX_BITS
    })
  }

  /**
   * The first endpoint clockwise from `hash32(ctx.hashKey)` that is not in `ctx.exclude` and is under
   * its load bound. If every allowed endpoint is at its bound (only possible with load signals that
   * disagree with each other), the first allowed one on the walk is returned. Undefined when nothing
   * is eligible. Without a key: a weighted random endpoint.
   */
  pick(ctx: PickContext): Endpoint | undefined {
    const key = ctx.hashKey
    if (key === undefined || key === '') return this.fallback.pick(ctx)
    const n = this.endpoints.length
    const size = this.points.length
    if (n === 0 || size === 0) return undefined
    const exclude = excludeSet(ctx)
    const epoch = this.nextEpoch()
    let first: Endpoint | undefined
    let totalInFlight = -1
    let totalWeight = 0
    let seen = 0
    const start = this.lowerBound(hash32(key))
    for (let step = 0; step < size && seen < n; step++) {
      const owner = this.owners[(start + step) % size] ?? 0
      if (this.visited[owner] === epoch) continue
      this.visited[owner] = epoch
      seen++
      const e = this.endpoints[owner]
      if (e === undefined || (exclude !== undefined && exclude.has(e.id))) continue
      first ??= e
      const inFlight = this.load.inFlight(e.id)
      if (inFlight <= 0 || this.loadFactor === Infinity) return e // every bound is >= 1
      if (totalInFlight < 0) {
        totalInFlight = 0
        for (const other of this.endpoints) {
          if (exclude !== undefined && exclude.has(other.id)) continue
          totalInFlight += this.load.inFlight(other.id)
          totalWeight += other.weight
        }
      }
      const bound = Math.ceil((this.loadFactor * (totalInFlight + 1) * e.weight) / totalWeight)
      if (inFlight < bound) return e
    }
    return first
  }

  /** Index of the first ring point >= h, wrapping to 0 past the last point. */
  private lowerBound(h: number): number {
    let lo = 0
    let hi = this.points.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.points[mid] ?? 0) < h) lo = mid + 1
      else hi = mid
    }
    return lo === this.points.length ? 0 : lo
  }

  private nextEpoch(): number {
    if (this.epoch >= 0xffffffff) {
      this.visited.fill(0)
      this.epoch = 0
    }
    return ++this.epoch
  }
}
