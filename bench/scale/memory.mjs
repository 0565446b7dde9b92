// Memory per worker with many idle connections: a fresh proxy per round, connections held open by a child
// process (hold-connections.mjs), RSS of each worker read from /proc once they all answered.
import fs from 'node:fs'
import path from 'node:path'
import { BENCH_DIR, log, median, sleep } from '../lib/util.mjs'
import { procs, startProc, waitForOutput } from '../lib/processes.mjs'
import { rssMiB, workerPids } from './targets.mjs'

const HOLDER = path.join(BENCH_DIR, 'scale', 'hold-connections.mjs')

/** Keep-alive connection counts of the sweep (ascending: one process goes through all of them). */
export const KEEPALIVE_LEVELS = [0, 64, 1000, 5000, 10000]
export const WEBSOCKETS = 1000

/** Open file descriptors this process may have (soft limit); the holder inherits it. */
export function openFileLimit() {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))
    return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1])
  } catch {
    return Infinity
  }
}

/** Holds `count` connections (WebSockets with `ws`) to the target; resolves with the holder and its tally. */
async function hold(target, count, ws) {
  const p = startProc(`hold-${count}${ws ? '-ws' : ''}`, process.execPath, [HOLDER, '--port', String(target.port), '--count', String(count), ...(ws ? ['--ws'] : [])])
  const m = await waitForOutput(p, /held (\{.*\})/, 120_000)
  return { proc: p, tally: JSON.parse(m[1]) }
}

async function release(holder) {
  holder.proc.child.kill('SIGTERM')
  await holder.proc.exited
  procs.splice(procs.indexOf(holder.proc), 1)
}

/** Every worker's RSS (MiB), after a short settle. */
async function readWorkers(target, settleMs) {
  await sleep(settleMs)
  return workerPids(target).map(rssMiB).filter((x) => x !== null)
}

/**
 * One round for one target kind: `start()` gives a fresh target; the keep-alive sweep, then (on a second
 * fresh target) idle and 1 000 WebSockets. Returns { levels: {count: {workers: [MiB], held, failed}}, ws: {...} }.
 */
export async function memoryRound(start, stop, { settleMs, maxConnections }) {
  const out = { levels: {}, ws: null }
  let target = await start()
  try {
    for (const count of KEEPALIVE_LEVELS) {
      if (count > maxConnections) {
        out.levels[count] = { skipped: `needs ${count} file descriptors, ulimit -n allows ${maxConnections}` }
        continue
      }
      if (count === 0) {
        out.levels[0] = { workers: await readWorkers(target, settleMs), held: 0, failed: 0 }
        continue
      }
      const h = await hold(target, count, false)
      out.levels[count] = { workers: await readWorkers(target, settleMs), held: h.tally.ok, failed: h.tally.failed }
      log(`${target.name}: ${h.tally.ok}/${count} connections held (${h.tally.ms} ms): workers ${fmt(out.levels[count].workers)} MiB`)
      await release(h)
      await sleep(500)
    }
  } finally {
    await stop(target)
  }
  target = await start()
  try {
    const idle = await readWorkers(target, settleMs)
    const h = await hold(target, WEBSOCKETS, true)
    const workers = await readWorkers(target, settleMs)
    out.ws = { idle, workers, held: h.tally.ok, failed: h.tally.failed }
    log(`${target.name}: ${h.tally.ok}/${WEBSOCKETS} WebSockets held: workers ${fmt(workers)} MiB (idle ${fmt(idle)})`)
    await release(h)
  } finally {
    await stop(target)
  }
  return out
}

const fmt = (xs) => xs.map((x) => x.toFixed(1)).join(' / ')

const sum = (xs) => xs.reduce((a, b) => a + b, 0)
const mean = (xs) => (xs.length === 0 ? null : sum(xs) / xs.length)

/**
 * Medians over rounds: per level the mean and the largest worker RSS; the cost per connection (KiB, all
 * workers together, 10 000 against idle) and per tunnel (1 000 WebSockets against the same process idle).
 */
export function summarizeMemory(rounds) {
  const levels = {}
  for (const count of KEEPALIVE_LEVELS) {
    const rs = rounds.map((r) => r.levels[count]).filter((l) => l && !l.skipped)
    if (rs.length === 0) {
      levels[count] = { skipped: rounds[0]?.levels[count]?.skipped ?? 'not measured' }
      continue
    }
    levels[count] = {
      meanMiB: median(rs.map((l) => mean(l.workers))),
      maxMiB: median(rs.map((l) => Math.max(...l.workers))),
      held: Math.min(...rs.map((l) => l.held)),
      failed: Math.max(...rs.map((l) => l.failed)),
    }
  }
  const top = [...KEEPALIVE_LEVELS].reverse().find((c) => c > 0 && levels[c].meanMiB !== undefined)
  const perConnKiB = top === undefined ? null : median(rounds.map((r) => ((sum(r.levels[top].workers) - sum(r.levels[0].workers)) * 1024) / r.levels[top].held))
  const ws = rounds.map((r) => r.ws).filter(Boolean)
  return {
    levels,
    perConnection: { kib: perConnKiB, at: top },
    ws: ws.length === 0 ? null : {
      meanMiB: median(ws.map((w) => mean(w.workers))),
      maxMiB: median(ws.map((w) => Math.max(...w.workers))),
      held: Math.min(...ws.map((w) => w.held)),
      failed: Math.max(...ws.map((w) => w.failed)),
      // Against the lower of the two fresh processes' idle readings: one 1 s reading of a process just
      // started can sit a few MiB high (start-up garbage not yet collected), which made the cost negative.
      perTunnelKiB: median(rounds.filter((r) => r.ws).map((r) => ((sum(r.ws.workers) - Math.min(sum(r.ws.idle), sum(r.levels[0]?.workers ?? r.ws.idle))) * 1024) / Math.max(1, r.ws.held))),
    },
  }
}
