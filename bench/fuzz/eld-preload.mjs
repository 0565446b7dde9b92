// Preloaded into the balancer's processes by the fuzzer (NODE_OPTIONS=--import ...): no product change.
// In each worker (cluster.isWorker) it measures, and appends one line per second to
// $FUZZ_ELD_DIR/eld-<pid>.log: `<epoch ms> <max ms> <p99 ms> <busy ms> <cpu source>` of that second:
// - max, p99: event-loop delay from monitorEventLoopDelay, wall-clock time. On a shared machine it includes
//   the time the OS kept the worker off the CPU (CPU starvation), which is not our code blocking.
// - busy: the longest the main thread was busy without yielding to timers, in CPU time. A 10 ms interval
//   timer reads the wall time and the CPU time at each tick; a tick's busy time is its CPU delta, capped by
//   its wall delta (a thread cannot run longer than the time that passed). A tick late by 300 ms wall with
//   20 ms of CPU was descheduled, not blocked; one with 80 ms of CPU ran our code (or GC) that long.
//   The CPU time is the main thread's: process.threadCpuUsage (Node 23.9 and newer), else, on Linux, the
//   first field of /proc/thread-self/schedstat (nanoseconds on a CPU, opened from the main thread and read
//   again at offset 0, about 20 us a read). Elsewhere it is the process's (process.cpuUsage), which also
//   counts libuv's threadpool and V8's helper threads (GC, compiler): it can only overstate the main
//   thread's busy time, never hide a block.
// - cpu source: `thread` or `process`, which of the two the busy figure comes from.
// The fuzzer takes the maximum over exactly the seconds of its run. With --expose-gc, SIGWINCH runs a full GC,
// so the fuzzer compares resident memory before and after without garbage in it.
import cluster from 'node:cluster'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { appendFile, appendFileSync, openSync, readFileSync, readSync } from 'node:fs'
import v8 from 'node:v8'
import { join } from 'node:path'

const TICK_MS = 10

const dir = process.env.FUZZ_ELD_DIR
if (dir && cluster.isWorker) {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  const file = join(dir, `eld-${process.pid}.log`)
  const cpuMs = mainThreadCpuMs() ?? (() => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1000
  })
  const cpuSource = cpuMs.thread === true ? 'thread' : 'process'
  let lastWall = performance.now()
  let lastCpu = cpuMs()
  let busyMax = 0
  const tick = setInterval(() => {
    const wall = performance.now()
    const cpu = cpuMs()
    const busy = Math.min(cpu - lastCpu, wall - lastWall)
    if (busy > busyMax) busyMax = busy
    lastWall = wall
    lastCpu = cpu
  }, TICK_MS)
  tick.unref()
  const timer = setInterval(() => {
    const line = `${Date.now()} ${(histogram.max / 1e6).toFixed(2)} ${(histogram.percentile(99) / 1e6).toFixed(2)} ${busyMax.toFixed(2)} ${cpuSource}\n`
    histogram.reset()
    busyMax = 0
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

/** A function returning the main thread's CPU time so far in ms (marked `thread`), or undefined when unknown. */
function mainThreadCpuMs() {
  if (typeof process.threadCpuUsage === 'function') {
    const f = () => {
      const u = process.threadCpuUsage()
      return (u.user + u.system) / 1000
    }
    f.thread = true
    return f
  }
  try {
    // Opened here, on the main thread: thread-self is the thread that opens it.
    const fd = openSync('/proc/thread-self/schedstat', 'r')
    const buf = Buffer.alloc(128)
    const f = () => {
      const n = readSync(fd, buf, 0, buf.length, 0)
      const end = buf.indexOf(32)
      return Number(buf.toString('latin1', 0, end > 0 && end < n ? end : n)) / 1e6
    }
    if (!Number.isFinite(f())) return undefined
    f.thread = true
    return f
  } catch {
    return undefined
  }
}
