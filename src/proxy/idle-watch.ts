import type { Duplex } from 'node:stream'

/** Longest delay `setTimeout` takes (about 24.8 days); longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Calls `onIdle` once when neither `a` nor `b` has received a byte for `idleMs` (an idle tunnel:
 * nothing flows either way, since every byte one side sends is read from the other). `idleMs <= 0`
 * watches nothing. Cheap per chunk: a chunk only stamps the time; one unref'd timer re-arms itself for
 * the time left. Returns a function that stops watching (call it when the tunnel closes).
 */
export function watchIdle(a: Duplex, b: Duplex, idleMs: number, onIdle: () => void): () => void {
  if (!(idleMs > 0)) return () => undefined
  let last = performance.now()
  const touch = (): void => {
    last = performance.now()
  }
  let timer: NodeJS.Timeout | undefined
  const arm = (delayMs: number): void => {
    timer = setTimeout(check, Math.min(Math.max(1, Math.ceil(delayMs)), MAX_TIMER_MS))
    timer.unref()
  }
  const check = (): void => {
    const left = last + idleMs - performance.now()
    if (left > 0) return arm(left)
    timer = undefined
    stop()
    onIdle()
  }
  const stop = (): void => {
    clearTimeout(timer)
    timer = undefined
    a.off('data', touch)
    b.off('data', touch)
  }
  a.on('data', touch)
  b.on('data', touch)
  arm(idleMs)
  return stop
}
