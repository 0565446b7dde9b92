// Preloaded into the balancer's processes by the fuzzer (NODE_OPTIONS=--import ...): no product change.
// In each worker (cluster.isWorker) it measures, and appends one line per second to
// $FUZZ_ELD_DIR/eld-<pid>.log: `<epoch ms> <max ms> <p99 ms> <busy ms> <cpu source>` of that second:
// - max, p99: event-loop delay from monitorEventLoopDelay, wall-clock time. On a shared machine it includes
//   the time the OS kept the worker off the CPU (CPU starvation), which is not our code blocking.
// - busy: the longest the main thread was busy without yielding to timers, in CPU time. A 10 ms interval
//   timer reads the wall time and the CPU time at each tick; a tick's busy time is its CPU delta, capped by
//   its wall delta (a thread cannot run longer than the time that passed). A tick late by 300 ms wall with
//   20 ms of CPU was descheduled, not blocked; one with 80 ms of CPU ran our code (or GC) that long.
//   The CPU time is the main thread's (process.threadCpuUsage, Node 23.9 and newer) or, on older Node, the
//   process's (process.cpuUsage): that one also counts libuv's threadpool and V8's helper threads (GC,
//   compiler), so it can only overstate the main thread's busy time, never hide a block.
// - cpu source: `thread` or `process`, which of the two the busy figure comes from.
// The fuzzer takes the maximum over exactly the seconds of its run. With --expose-gc, SIGWINCH runs a full GC,
// so the fuzzer compares resident memory before and after without garbage in it.
import cluster from 'node:cluster'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { appendFile } from 'node:fs'
import { join } from 'node:path'

const TICK_MS = 10

const dir = process.env.FUZZ_ELD_DIR
if (dir && cluster.isWorker) {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  const file = join(dir, `eld-${process.pid}.log`)
  const threadCpu = typeof process.threadCpuUsage === 'function'
  const cpuSource = threadCpu ? 'thread' : 'process'
  /** CPU time so far, in ms (see above). */
  const cpuMs = () => {
    const u = threadCpu ? process.threadCpuUsage() : process.cpuUsage()
    return (u.user + u.system) / 1000
  }
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
  })
}
