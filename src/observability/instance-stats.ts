/**
 * One dashboard for all instances: with a global state store (Redis), every instance's primary
 * writes its dashboard totals to the store once a tick and adds up what the others wrote, so each
 * instance's dashboard shows the whole fleet.
 *
 * Keys are bounded by the number of instances running at once, not by how many ever ran: an instance
 * takes a slot (a lease `dashboard-slot/N`, renewed every tick) and writes `dashboard/slot/N`. A slot
 * whose instance stopped is taken over by the next one to start. Readers tell instances apart by the id
 * written with the totals. An instance is counted once it has written twice under the reader's eyes (a
 * slot a crashed instance left behind never is). When a slot changes hands, or its writer says it
 * stopped, or it has not been refreshed for `staleMs`, the reader keeps that instance's counters
 * (requests served stay served, and rates do not dip) but no longer its gauges (in-flight requests, open
 * WebSockets).
 *
 * Nothing here is awaited by anyone: each tick starts at most one write and one read, and the figures of
 * a tick are those of the last read that completed. The store down means: this instance's own figures
 * plus the last ones seen of the others.
 */
import type { StateStore } from '../state/index.js'
import { addCumulative, decodeCumulative, emptyCumulative, encodeCumulative, type Cumulative, type CumulativeJson } from './stats-totals.js'

/** What the exchange needs of a store. */
export type StatsStore = Pick<StateStore, 'get' | 'compareAndSet' | 'list' | 'acquireLease' | 'renewLease' | 'releaseLease'>

/** Options of {@link InstanceStatsExchange}. */
export interface InstanceStatsOptions {
  store: StatsStore
  /** Unique per running instance (host, pid, random). */
  instanceId: string
  /** An instance whose totals were not refreshed for this long is counted as stopped (default 5 000 ms). */
  staleMs?: number
  /** Slots to look for a free one in (default 64): at most that many instances share one dashboard. */
  slots?: number
  /** Monotonic ms (tests). */
  now?: () => number
}

/** The value of a slot key. `stopped`: written by an instance on its way out. */
interface SlotValue {
  instance: string
  totals?: CumulativeJson
  stopped?: boolean
}

interface Peer {
  instance: string
  version: number
  /** When this reader last saw the version change (its own clock: hosts' clocks may differ). */
  seenAt: number
  totals: Cumulative
  /** In the sums: it wrote again since first seen (a slot left behind by a crashed instance never is). */
  counted: boolean
}

const KEY_PREFIX = 'dashboard/slot/'
const LEASE_PREFIX = 'dashboard-slot/'

/** Publishes this instance's dashboard totals and sums those of every instance sharing the store. */
export class InstanceStatsExchange {
  private readonly staleMs: number
  private readonly slots: number
  private readonly now: () => number
  private slot: number | undefined
  /** Version of our slot key as we last wrote or read it. */
  private version = 0
  private writing = false
  private reading = false
  private closed = false
  private readonly peers = new Map<string, Peer>()
  /** Counters of instances that stopped or whose slot changed hands. */
  private readonly departed = emptyCumulative()
  /** Totals of the instances counted since the last tick, as they were when first counted. */
  private joined = emptyCumulative()

  constructor(private readonly options: InstanceStatsOptions) {
    this.staleMs = options.staleMs ?? 5_000
    this.slots = options.slots ?? 64
    this.now = options.now ?? ((): number => performance.now())
  }

  /**
   * One tick: starts writing `own` (this instance's totals) and reading the others' (neither awaited).
   * Returns the totals of every instance as last seen, the number of live instances, and `joined`: the
   * totals that instances counted for the first time brought in at once (requests served before this
   * dashboard saw them: not a rate; see StatsTracker.rebase).
   */
  exchange(own: Cumulative): { totals: Cumulative; instances: number; joined: Cumulative } {
    if (!this.closed) {
      this.publish(own)
      this.refresh()
    }
    const totals = emptyCumulative()
    addCumulative(totals, own, true)
    addCumulative(totals, this.departed, false)
    let instances = 1
    const now = this.now()
    for (const peer of this.peers.values()) {
      if (!peer.counted) continue
      const live = now - peer.seenAt < this.staleMs
      if (live) instances++
      addCumulative(totals, peer.totals, live)
    }
    const joined = this.joined
    this.joined = emptyCumulative()
    return { totals, instances, joined }
  }

  /** Says this instance stopped (its counters stay in the others' totals) and frees its slot. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const slot = this.slot
    if (slot === undefined) return
    const s = this.options.store
    try {
      await this.write(slot, { instance: this.options.instanceId, stopped: true })
      await s.releaseLease(LEASE_PREFIX + String(slot), this.options.instanceId)
    } catch {
      // The store is down: the others count this instance as stopped after `staleMs`.
    }
  }

  /** Claims a slot when we have none, renews it, then writes our totals into it. */
  private publish(own: Cumulative): void {
    if (this.writing) return
    this.writing = true
    const value: SlotValue = { instance: this.options.instanceId, totals: encodeCumulative(own) }
    this.holdSlot()
      .then((slot) => (slot === undefined || this.closed ? undefined : this.write(slot, value)))
      .catch(() => undefined) // store down: try again next tick
      .finally(() => (this.writing = false))
  }

  /** The slot we hold after renewing it, or a newly claimed one; undefined when all are taken. */
  private async holdSlot(): Promise<number | undefined> {
    const s = this.options.store
    const id = this.options.instanceId
    const ttl = this.staleMs * 2
    if (this.slot !== undefined) {
      if (await s.renewLease(LEASE_PREFIX + String(this.slot), id, ttl)) return this.slot
      this.slot = undefined // lost it (the store was away longer than the lease): claim another
    }
    for (let n = 0; n < this.slots; n++) {
      if (await s.acquireLease(LEASE_PREFIX + String(n), id, ttl)) {
        this.slot = n
        this.version = (await s.get(KEY_PREFIX + String(n)))?.version ?? 0
        return n
      }
    }
    return undefined
  }

  /** Compare-and-set on our slot key, re-reading its version once when it moved. */
  private async write(slot: number, value: SlotValue): Promise<void> {
    const s = this.options.store
    const key = KEY_PREFIX + String(slot)
    if (await s.compareAndSet(key, this.version, value)) {
      this.version++
      return
    }
    this.version = (await s.get(key))?.version ?? 0
    if (await s.compareAndSet(key, this.version, value)) this.version++
  }

  /** Reads every slot and updates what we know of the other instances. */
  private refresh(): void {
    if (this.reading) return
    this.reading = true
    this.options.store
      .list<SlotValue>(KEY_PREFIX)
      .then((entries) => {
        const now = this.now()
        for (const [key, { value, version }] of entries) {
          if (key === KEY_PREFIX + String(this.slot) || typeof value !== 'object' || value === null) continue
          if (value.instance === this.options.instanceId) continue // our old slot, before we lost it
          this.see(key, value, version, now)
        }
      })
      .catch(() => undefined)
      .finally(() => (this.reading = false))
  }

  private see(key: string, value: SlotValue, version: number, now: number): void {
    let peer = this.peers.get(key)
    if (peer !== undefined && peer.version === version) return
    if (peer !== undefined && peer.instance !== value.instance) {
      // The slot changed hands: the instance that held it is gone.
      if (peer.counted) addCumulative(this.departed, peer.totals, false)
      this.peers.delete(key)
      peer = undefined
    }
    const totals = value.totals === undefined ? undefined : decodeCumulative(value.totals)
    if (peer === undefined) {
      if (value.stopped !== true && totals !== undefined) this.peers.set(key, { instance: value.instance, version, seenAt: now, totals, counted: false })
      return
    }
    peer.version = version
    peer.seenAt = now
    if (totals !== undefined) peer.totals = totals
    if (value.stopped === true) {
      if (peer.counted) addCumulative(this.departed, peer.totals, false)
      this.peers.delete(key)
    } else if (!peer.counted) {
      peer.counted = true
      addCumulative(this.joined, peer.totals, false)
    }
  }
}
