// Preloaded into the balancer's processes by the fuzzer (NODE_OPTIONS=--import ...): no product change.
// In each worker (cluster.isWorker) it measures event-loop delay with monitorEventLoopDelay and
// appends one line per second to $FUZZ_ELD_DIR/eld-<pid>.log: `<epoch ms> <max ms> <p99 ms>` of that
// second, so the fuzzer can take the maximum over exactly the seconds of its run. With --expose-gc, SIGWINCH
// runs a full GC, so the fuzzer compares resident memory before and after without garbage in it.
import cluster from 'node:cluster'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { appendFile, appendFileSync, readFileSync } from 'node:fs'
import v8 from 'node:v8'
import { join } from 'node:path'

const dir = process.env.FUZZ_ELD_DIR
if (dir && cluster.isWorker) {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  const file = join(dir, `eld-${process.pid}.log`)
  const timer = setInterval(() => {
    const line = `${Date.now()} ${(histogram.max / 1e6).toFixed(2)} ${(histogram.percentile(99) / 1e6).toFixed(2)}\n`
    histogram.reset()
    appendFile(file, line, () => {})
  }, 1000)
  timer.unref()
  process.on('SIGWINCH', () => {
    if (typeof globalThis.gc === 'function') globalThis.gc()
    memLine('gc')
  })
}

// With FUZZ_MEM_DIR (for looking into memory, not used by the oracles): one line a second, one after each
// forced GC and one 0.9 s later (when the fuzzer reads VmRSS), to $FUZZ_MEM_DIR/mem-<pid>.log: RSS, the V8
// heap (total, used, per space: [committed, used]), external and array buffers, the resident KiB of malloc's
// main arena (`brk`), of its thread arenas (64 MiB-aligned anonymous mappings: `arena`) and of the other
// anonymous mappings (mostly V8's pages: `anon`), and the active handles by kind (TCPSocketWrap: sockets).
// FUZZ_HEAP_SNAPSHOT=1 also writes a heap snapshot after each forced GC (it raises RSS: not for the figures).
const memDir = process.env.FUZZ_MEM_DIR
function memLine(tag) {
  if (!memDir || !cluster.isWorker) return
  const m = process.memoryUsage()
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, [s.space_size, s.space_used_size]]))
  const handles = {}
  for (const r of process.getActiveResourcesInfo()) handles[r] = (handles[r] ?? 0) + 1
  const maps = { brk: 0, arena: 0, anon: 0 }
  for (const block of readFileSync('/proc/self/smaps', 'latin1').split(/\n(?=[0-9a-f]+-)/)) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+[ \t]*([^\n]*)/.exec(block)
    if (head === null) continue
    const rss = Number(/\nRss:\s+(\d+)/.exec(block)?.[1] ?? 0)
    const name = head[4].trim()
    if (name === '[heap]') maps.brk += rss
    else if (name === '' && head[3] === 'rw-p' && parseInt(head[1], 16) % (64 * 1024 * 1024) === 0) maps.arena += rss
    else if (name === '') maps.anon += rss
  }
  const line = { t: Date.now(), tag, maps, rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, spaces, handles }
  appendFileSync(join(memDir, `mem-${process.pid}.log`), JSON.stringify(line) + '\n')
  if (tag !== 'gc') return
  setTimeout(() => memLine('gc-later'), 900).unref()
  if (process.env.FUZZ_HEAP_SNAPSHOT) v8.writeHeapSnapshot(join(memDir, `heap-${process.pid}-${Date.now()}.heapsnapshot`))
}
if (memDir && cluster.isWorker) setInterval(() => memLine('tick'), 1000).unref()
