// Preloaded into the balancer's processes by the fuzzer (NODE_OPTIONS=--import ...): no product change.
// In each worker (cluster.isWorker) it measures event-loop delay with monitorEventLoopDelay and
// appends one line per second to $FUZZ_ELD_DIR/eld-<pid>.log: `<epoch ms> <max ms> <p99 ms>` of that
// second, so the fuzzer can take the maximum over exactly the seconds of its run. With --expose-gc, SIGWINCH
// runs a full GC, so the fuzzer compares resident memory before and after without garbage in it.
import cluster from 'node:cluster'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { appendFile } from 'node:fs'
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
  })
}
