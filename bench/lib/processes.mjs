// Processes: every child is registered and stopped by PID in stopAll(); CPU accounting from /proc.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { HOST, ROOT, abort, httpGet, log, sleep } from './util.mjs'


/** @type {{name: string, child: import('node:child_process').ChildProcess, exited: Promise<void>, tail: string[]}[]} */
export const procs = []

export function startProc(name, cmd, args, { env, logFile, cwd } = {}) {
  const child = spawn(cmd, args, { cwd: cwd ?? ROOT, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  const tail = []
  const out = logFile ? fs.createWriteStream(logFile) : null
  const listeners = []
  const onData = (chunk) => {
    const text = chunk.toString()
    out?.write(text)
    for (const line of text.split('\n')) if (line.trim()) tail.push(line)
    while (tail.length > 40) tail.shift()
    for (const l of listeners) l(text)
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', (err) => {
      tail.push(`spawn error: ${err.message}`)
      resolve()
    })
  })
  exited.then(() => out?.end())
  const p = { name, child, exited, tail, listeners }
  procs.push(p)
  return p
}

export const isRunning = (p) => p.child.exitCode === null && p.child.signalCode === null && p.child.pid !== undefined

export function failure(p, why) {
  return new Error(`${p.name}: ${why}${p.tail.length ? `\n    ${p.tail.slice(-12).join('\n    ')}` : ''}`)
}

/** Resolves when the process prints a line matching `re`; rejects if it exits first or after timeoutMs. */
export function waitForOutput(p, re, timeoutMs) {
  return new Promise((resolve, reject) => {
    let buf = p.tail.join('\n')
    if (re.test(buf)) return resolve(re.exec(buf))
    const done = (fn, v) => {
      clearTimeout(timer)
      p.listeners.splice(p.listeners.indexOf(onText), 1)
      abort.signal.removeEventListener('abort', onAbort)
      fn(v)
    }
    const onText = (text) => {
      buf += text
      const m = re.exec(buf)
      if (m) done(resolve, m)
    }
    const onAbort = () => done(reject, new Error('aborted'))
    const timer = setTimeout(() => done(reject, failure(p, `not ready after ${timeoutMs} ms`)), timeoutMs)
    p.listeners.push(onText)
    abort.signal.addEventListener('abort', onAbort, { once: true })
    p.exited.then(() => {
      if (p.listeners.includes(onText)) done(reject, failure(p, `exited (code ${p.child.exitCode ?? p.child.signalCode}) before it was ready`))
    })
  })
}

/** Polls GET urlPath until it answers 200; rejects if the process exits or after timeoutMs. */
export async function waitForHttp(p, port, urlPath, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    if (!isRunning(p)) throw failure(p, `exited (code ${p.child.exitCode ?? p.child.signalCode}) before it was ready`)
    try {
      const r = await httpGet(port, urlPath, 1000)
      if (r.status === 200) return
      last = `status ${r.status}`
    } catch (err) {
      last = err.message
    }
    if (Date.now() > deadline) throw failure(p, `no 200 on http://${HOST}:${port}${urlPath} after ${timeoutMs} ms (${last})`)
    await sleep(100)
  }
}

/** pid -> ppid for every process (Linux /proc; empty elsewhere). */
export function processTable() {
  const table = new Map()
  let entries = []
  try {
    entries = fs.readdirSync('/proc')
  } catch {
    return table
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    const st = readStat(Number(e))
    if (st) table.set(Number(e), st.ppid)
  }
  return table
}

/** utime+stime (clock ticks) and ppid of a pid from /proc/PID/stat, or null. */
export function readStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    // f[0] = state (field 3), ppid = field 4, utime = field 14, stime = field 15
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }
  } catch {
    return null
  }
}

/** pid and all its descendants. */
export function processTree(pid, table = processTable()) {
  const out = [pid]
  for (let i = 0; i < out.length; i++) for (const [child, ppid] of table) if (ppid === out[i]) out.push(child)
  return out
}

/** Busy clock ticks of the whole machine (all CPUs) from /proc/stat, or null. */
export function machineBusyTicks() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal ...: busy = everything but idle and iowait
    return f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - f[4]
  } catch {
    return null
  }
}

export function cpuTicks(pids) {
  let sum = 0
  for (const pid of pids) sum += readStat(pid)?.ticks ?? 0
  return sum
}

export const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  return Number(r.stdout?.trim()) || 100
})()

export function signal(pid, sig) {
  try {
    process.kill(pid, sig)
    return true
  } catch {
    return false
  }
}

export const isAlive = (pid) => signal(pid, 0)

/** SIGTERM every started process by PID (newest first), SIGKILL after graceMs; then any leftover descendant. */
export async function stopAll(graceMs = 10_000) {
  const table = processTable()
  const leftovers = new Set()
  const known = new Set()
  for (const p of [...procs].reverse()) {
    if (p.child.pid === undefined) continue
    known.add(p.child.pid)
    for (const d of processTree(p.child.pid, table).slice(1)) {
      leftovers.add(d)
      known.add(d)
    }
    if (!isRunning(p)) continue
    signal(p.child.pid, 'SIGTERM')
  }
  const deadline = Date.now() + graceMs
  for (const p of procs) {
    if (!isRunning(p)) continue
    const left = deadline - Date.now()
    let timer
    await Promise.race([p.exited, new Promise((r) => (timer = setTimeout(r, Math.max(0, left))))])
    clearTimeout(timer)
    if (isRunning(p)) {
      log(`${p.name} (pid ${p.child.pid}) did not exit after SIGTERM; SIGKILL`)
      signal(p.child.pid, 'SIGKILL')
      await p.exited
    }
  }
  // Descendants (nginx/lb workers) normally exit with their parent; make sure none is left behind.
  await new Promise((r) => setTimeout(r, 300))
  const now = processTable()
  for (const pid of leftovers) {
    // Still ours: its parent is one of the processes we started (or init, after its parent exited).
    const ppid = now.get(pid)
    if (ppid !== undefined && (ppid === 1 || ppid === process.pid || known.has(ppid)) && isAlive(pid)) {
      log(`leftover child process ${pid}: SIGKILL`)
      signal(pid, 'SIGKILL')
    }
  }
  procs.length = 0
}

/** SIGKILL every started process at once (a second Ctrl-C). */
export function killAll() {
  for (const p of procs) if (p.child.pid !== undefined) signal(p.child.pid, 'SIGKILL')
}
