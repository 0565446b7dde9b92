/**
 * Seeded pseudo-random numbers for the fuzzer: sfc32 (Chris Doty-Humphrey's "small fast counting" generator,
 * 128-bit state, passes PractRand), seeded from a string through FNV-1a so a run is named by its seed.
 * Not for cryptography: it only has to make every run reproducible.
 */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  /** `seed`: any string or number; the same seed gives the same sequence. */
  constructor(seed: string | number) {
    let h = 0x811c9dc5
    for (const ch of String(seed)) {
      h ^= ch.charCodeAt(0)
      h = Math.imul(h, 0x01000193)
    }
    this.a = h >>> 0
    this.b = (h ^ 0x9e3779b9) >>> 0
    this.c = (h ^ 0x243f6a88) >>> 0
    this.d = 1
    for (let i = 0; i < 15; i++) this.u32()
  }

  /** Next unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296
  }

  /** Uniform integer in [0, n); 0 when n <= 0. */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.next() * n)
  }

  /** Uniform integer in [lo, hi] (both included). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }

  /** A string of `n` characters drawn from `alphabet`. */
  string(alphabet: string, n: number): string {
    let s = ''
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)]
    return s
  }

  /** A new generator seeded from this one (independent stream for one connection). */
  fork(tag: string): Rng {
    return new Rng(`${tag}:${this.u32()}`)
  }
}
