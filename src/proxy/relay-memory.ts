/**
 * Keeps a worker's memory bounded while it relays large bodies. Every chunk a proxy relays is a Buffer
 * whose memory lives outside V8's heap and is freed only when the small object pointing at it is
 * collected; relaying allocates almost nothing on the heap itself, so V8 may not collect for tens of
 * MB of relayed data (its external-memory trigger is 64 MB), and RSS climbs with the transfer although
 * nothing is buffered. After every {@link RELAY_GC_BYTES} relayed, a young-generation collection (a few
 * hundred microseconds, off the request path) frees those chunks. Needs `--expose-gc` (the workers get
 * it); without it this does nothing.
 */
const collect = (globalThis as { gc?: (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void }).gc

/** Bytes relayed between two young-generation collections. */
export const RELAY_GC_BYTES = 8 * 1024 * 1024

let relayed = 0
let scheduled = false

/** Counts relayed body bytes (request or response). */
export function noteRelayedBytes(n: number): void {
  if (collect === undefined) return
  relayed += n
  if (relayed < RELAY_GC_BYTES || scheduled) return
  relayed = 0
  scheduled = true
  setImmediate(minorCollection)
}

function minorCollection(): void {
  scheduled = false
  collect?.({ type: 'minor' })
}
