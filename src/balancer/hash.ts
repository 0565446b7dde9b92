/**
 * Fast non-cryptographic string hash for the consistent-hash ring: FNV-1a (32 bit) over the UTF-16
 * code units, followed by the murmur3 `fmix32` finalizer so that near-identical inputs ("a#1", "a#2")
 * land far apart on the ring. No allocation, O(length).
 *
 * Sources: FNV, http://www.isthe.com/chongo/tech/comp/fnv/ ; murmur3 fmix32,
 * https://github.com/aappleby/smhasher/blob/master/src/MurmurHash3.cpp
 * Not for anything adversarial: a client that can choose its key can choose its endpoint (the bounded
 * load of `consistent-hash` caps the damage).
 */

const FNV_OFFSET_BASIS = 0x811c9dc5
const FNV_PRIME = 0x01000193

/** 32-bit hash of `text` as an unsigned integer in [0, 2^32). Deterministic across processes and hosts. */
export function hash32(text: string): number {
  let h = FNV_OFFSET_BASIS
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, FNV_PRIME)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
