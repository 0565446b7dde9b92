/**
 * The fuzzing campaign: starts the real balancer (`dist/cli.js start`, 2 workers) over 3 logging backends,
 * sends generated connections (see generate.ts) from `connections` concurrent clients until `requests`
 * requests were sent, and checks the oracles:
 * - no worker crash or restart (the primary's children and its log);
 * - every client gets well-framed answers in order, or a 4xx and close (response-framer.ts);
 * - no backend sees a request other than the ones the client framed (markers, method, target, body);
 * - each worker's RSS back within 10 % of its value after the warm-up, once the run is over. Both values are
 *   taken the same way, idle: `settleMs` after the last request, after a full GC. Idle matters: under load
 *   V8 keeps a 32 MiB new space that it gives back only once the allocation rate has dropped (about 3-8 s
 *   after the load ends; a GC forced earlier may keep it), so a reading taken sooner measures that timing,
 *   not growth. The warm-up is long enough (as many requests as the run, up to 100 000) for malloc's arenas
 *   and V8's code space to reach their working size: the oracle then sees what grows with the run;
 * - the workers' main threads never busy (CPU time) for more than 50 ms without yielding, and their
 *   event-loop delay (wall clock, which includes CPU starvation) reported beside it (eld-preload.mjs, no
 *   product change).
 * Each connection is generated from `seed` and its id alone, so `--show ID` rebuilds its bytes.
 */
import net from 'node:net'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { setPriority, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { startBalancerProcess, type BalancerProcess } from '../../test/helpers/balancer-process.js'
import { createHash } from 'node:crypto'
import { HEALTH_PATH, startLoggingBackends, type BackendEvent } from './backends.js'
import { loadCorpusSeeds, type CorpusSeed } from './corpus.js'
import { generateConnection, parseMarker, type ConnectionPlan, type PlannedRequest } from './generate.js'
import { Rng } from './prng.js'
import { FramingError, ResponseFramer, type FramedResponse } from './response-framer.js'

/** Options of {@link runCampaign}. */
export interface CampaignOptions {
  /** Requests to send (at least; whole connections). */
  requests: number
  seed: string
  /** Concurrent client connections. */
  connections: number
  /** `own`: the balancer's HTTP/1.1 listener (default); `node`: `LB_HTTP1_SERVER=node`. */
  listener?: 'own' | 'node'
  /** No byte in either direction for this long while an answer is due: a hang. Default 5000 ms. */
  hangMs?: number
  /** Requests of the warm-up part, before the RSS baseline is taken. Default: `requests`, at most 100 000. */
  warmupRequests?: number
  /** Idle time before each RSS reading (after the warm-up, after the run). Default 15 000 ms. */
  settleMs?: number
  /** Called about every `progressMs` with the running totals. */
  /** Replay only these connection ids (each generated as in the full run), `repeat` times each. */
  only?: readonly number[]
  repeat?: number
  onProgress?: (stats: CampaignStats, elapsedMs: number) => void
  progressMs?: number
}

/** Failure kinds: any of these fails the campaign. */
export const FAILURE_KINDS = new Set([
  'crash', 'hang', 'malformed-response', 'out-of-order', 'early-close', 'server-error', 'unexpected-status',
  'invalid-kept-open', 'data-after-close', 'extra-response', 'desync-forwarded-invalid', 'desync-mismatch',
  'desync-smuggled', 'desync-unmarked', 'desync-unknown', 'desync-late', 'desync-executed-unanswered',
  'desync-duplicate', 'backend-parse-error', 'phantom-answer', 'aborted-valid', 'noroute-forwarded',
  // Malformed (not ambiguous) requests forwarded: no desync, but the oracle wants them refused.
  'accepted-invalid',
])

/** Desync kinds (the "desyncs" column): a backend saw something else than the client framed. */
export const DESYNC_KINDS = new Set([...FAILURE_KINDS].filter((k) => k.startsWith('desync-') || k === 'backend-parse-error' || k === 'phantom-answer'))

/** One oracle violation (or notable event), with what is needed to reproduce it. */
export interface Finding {
  kind: string
  conn: number
  marker?: string
  mutation?: string
  detail: string
}

/** Running totals. */
export interface CampaignStats {
  connections: number
  sent: number
  answered: number
  forwarded: number
  /** Final answers that were refusals (4xx, 501), by status. */
  rejected: Record<string, number>
  /** Valid (well-formed) requests refused: not a failure, listed by mutation. */
  validRefused: number
  lenientForwarded: number
  lenientRefused: number
  invalidRefused: number
  noroute404: number
  /** The balancer closed with `Connection: close` after a normal answer (requests after it unanswered). */
  serverClosed: number
  abortedHeads: number
  findings: Record<string, number>
}

/** Per-worker measurements. */
export interface WorkerReport {
  pid: number
  rssStartKb: number
  rssEndKb: number
  /** Largest event-loop delay of a second of the run (wall clock: includes time the OS kept the worker off the CPU). */
  eventLoopMaxMs: number
  eventLoopP99MaxMs: number
  /**
   * Longest stretch the main thread was busy (CPU time) without yielding to a 10 ms timer: our code (or GC)
   * blocking, whatever the machine's load (see eld-preload.mjs).
   */
  busyMaxMs: number
  /** Where `busyMaxMs` comes from: the main thread's CPU time, or the whole process's (Node before 23.9). */
  cpuSource: 'thread' | 'process' | 'unknown'
}

/** Outcome of a campaign. */
export interface CampaignResult {
  options: Required<Omit<CampaignOptions, 'onProgress' | 'progressMs' | 'only' | 'repeat'>>
  stats: CampaignStats
  /** Up to 10 examples per finding kind. */
  examples: Finding[]
  workers: WorkerReport[]
  crashes: number
  crashLines: string[]
  desyncs: number
  hangs: number
  failures: number
  maxEventLoopDelayMs: number
  /** The largest {@link WorkerReport.busyMaxMs} of the workers. */
  maxBusyMs: number
  durationMs: number
  startedAt: Date
  /** The balancer exited with this code on SIGTERM at the end. */
  exitCode: number | null
  /** Mutation names of refused valid/lenient requests, with counts (what the balancer is strict about). */
  refusedByMutation: Record<string, number>
}

const PRELOAD = pathToFileURL(fileURLToPath(new URL('./eld-preload.mjs', import.meta.url))).href

/** Workers: the primary's child processes. */
export function childrenOf(pid: number): number[] {
  try {
    const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
    return tasks === '' ? [] : tasks.split(/\s+/).map(Number)
  } catch {
    return []
  }
}

/** Resident set size of a process in KiB (0 when gone). */
export function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Per-connection verification state. */
interface ConnState {
  plan: ConnectionPlan
  /** Per request: 0 pending, 1 answered by the backend, 2 refused, 3 404, 4 unanswered, 5 unknown (hang/failure). */
  outcome: Uint8Array
  forwarded: Uint8Array
  aborted: Uint8Array
}

const OK = 1
const REFUSED = 2
const NOROUTE = 3
const UNANSWERED = 4
const UNKNOWN = 5

/** The balancer's configuration for the campaign. */
export function campaignConfig(backendUrls: readonly string[]): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { level: 'warn', accessLog: false },
    pools: {
      fuzz: {
        backends: backendUrls.map((url) => ({ url })),
        healthCheck: { path: HEALTH_PATH, interval: '2s' },
      },
    },
    routes: [{ match: { pathPrefix: '/f/' }, pool: 'fuzz' }],
  }
}

/** Runs one campaign; never throws for an oracle violation (see `failures`), only when it cannot run. */
export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const opts = {
    requests: options.requests,
    seed: options.seed,
    connections: options.connections,
    listener: options.listener ?? 'own',
    hangMs: options.hangMs ?? 5000,
    // A replay (`only`) is about one connection's bytes, not memory: no warm-up, short pauses.
    warmupRequests: options.warmupRequests ?? (options.only === undefined ? Math.min(100_000, options.requests) : 0),
    settleMs: options.settleMs ?? (options.only === undefined ? 15_000 : 1500),
  }
  const corpus: CorpusSeed[] = loadCorpusSeeds()
  const stats: CampaignStats = {
    connections: 0, sent: 0, answered: 0, forwarded: 0, rejected: {}, validRefused: 0, lenientForwarded: 0,
    lenientRefused: 0, invalidRefused: 0, noroute404: 0, serverClosed: 0, abortedHeads: 0, findings: {},
  }
  const examples: Finding[] = []
  const refusedByMutation: Record<string, number> = {}
  const find = (f: Finding): void => {
    const n = (stats.findings[f.kind] = (stats.findings[f.kind] ?? 0) + 1)
    if (n <= 10) examples.push(f)
  }
  const conns = new Map<number, ConnState>()
  /** Connections checked and dropped, with the client outcome of each request. */
  const retired = new Map<number, Uint8Array>()
  const failedConns = new Set<number>()

  const onBackend = (e: BackendEvent): void => {
    if (e.kind === 'parse-error') {
      find({ kind: 'backend-parse-error', conn: -1, detail: `${e.backend}: ${e.code}: ${JSON.stringify(e.raw.slice(0, 300))}` })
      return
    }
    if (e.marker === undefined) {
      find({ kind: 'desync-unmarked', conn: -1, detail: `${e.backend} saw ${e.kind} ${e.method} ${JSON.stringify(e.url.slice(0, 200))}` })
      return
    }
    const m = parseMarker(e.marker)
    if (m === undefined) return
    if (m.smuggled) {
      // The probe behind an invalid request whose fault is not in its framing, when that request was accepted
      // (forwarded): the probe is simply the next request (the acceptance is reported as accepted-invalid).
      // Behind a refused one it is a request that should never have run: a desync.
      const st = conns.get(m.conn)
      const before = st?.plan.requests[m.index - 1]
      const accepted = (st?.forwarded[m.index - 1] ?? 0) > 0
      if (before !== undefined && accepted && m.index === st?.plan.requests.length && before.expect === 'invalid' && !before.framing) {
        find({ kind: 'accepted-invalid-next', conn: m.conn, marker: e.marker, mutation: before.mutation, detail: `${e.backend} saw the request after an accepted ${before.mutation}` })
        return
      }
      find({ kind: 'desync-smuggled', conn: m.conn, marker: e.marker, detail: `${e.backend} saw the hidden request ${e.method} ${e.url.slice(0, 200)} (${e.kind})` })
      return
    }
    const state = conns.get(m.conn)
    // A request given up after its client left (a hang the client side reported) ends aborted, later.
    if (state === undefined && e.kind === 'aborted' && retired.has(m.conn)) return
    if (state === undefined) {
      // After a hang or another failure the client left; what the balancer does with the rest is counted
      // apart (the failure itself is already reported).
      const kind = failedConns.has(m.conn) ? 'late-after-failure' : retired.has(m.conn) ? 'desync-late' : 'desync-unknown'
      const outcome = ['pending', 'answered', 'refused', '404', 'unanswered', 'unknown'][retired.get(m.conn)?.[m.index] ?? 0]
      find({ kind, conn: m.conn, marker: e.marker, detail: `${e.backend} saw ${e.kind} ${e.method} ${e.url.slice(0, 200)} more than 3 s after the client's connection ended; client outcome of it: ${outcome}` })
      return
    }
    const req = state.plan.requests[m.index]
    if (req === undefined) {
      find({ kind: 'desync-unknown', conn: m.conn, marker: e.marker, detail: `no request ${m.index} on this connection` })
      return
    }
    if (e.kind === 'aborted') {
      state.aborted[m.index] = 1
      stats.abortedHeads++
      if (req.expect === 'invalid' && !req.headMayReach) {
        find({ kind: req.framing ? 'desync-forwarded-invalid' : 'accepted-invalid', conn: m.conn, marker: e.marker, mutation: req.mutation, detail: `head of an invalid request reached ${e.backend} (aborted)` })
      } else if (req.expect !== 'invalid' && !req.headMayReach) {
        find({ kind: 'aborted-valid', conn: m.conn, marker: e.marker, mutation: req.mutation, detail: `${e.backend}: the balancer gave up on ${req.method} ${req.target ?? ''} mid-request` })
      }
      return
    }
    stats.forwarded++
    const seen = ++state.forwarded[m.index]!
    if (seen > 1) find({ kind: 'desync-duplicate', conn: m.conn, marker: e.marker, mutation: req.mutation, detail: `${e.backend}: forwarded ${seen} times` })
    if (req.expect === 'invalid') {
      find({ kind: req.framing ? 'desync-forwarded-invalid' : 'accepted-invalid', conn: m.conn, marker: e.marker, mutation: req.mutation, detail: `${e.backend} saw ${e.method} ${e.url.slice(0, 120)} body ${e.bodyLength} B` })
      return
    }
    if (req.expect === 'noroute') {
      find({ kind: 'noroute-forwarded', conn: m.conn, marker: e.marker, detail: e.url })
      return
    }
    const problems: string[] = []
    if (e.method !== req.method) problems.push(`method ${e.method} != ${req.method}`)
    if (req.target !== undefined && e.url !== req.target) problems.push(`target ${JSON.stringify(e.url.slice(0, 120))} != ${JSON.stringify(req.target.slice(0, 120))}`)
    if (e.bodyLength !== req.body.length || e.bodyHash !== createHash('sha1').update(req.body).digest('base64')) {
      problems.push(`body ${e.bodyLength} B != ${req.body.length} B (${JSON.stringify(e.bodyStart)} vs ${JSON.stringify(req.body.subarray(0, 40).toString('latin1'))})`)
    }
    if (problems.length > 0) find({ kind: 'desync-mismatch', conn: m.conn, marker: e.marker, mutation: req.mutation, detail: `${e.backend}: ${problems.join('; ')}` })
  }

  const backends = await startLoggingBackends(['b1', 'b2', 'b3'], onBackend)
  const eldDir = mkdtempSync(join(tmpdir(), 'lb-fuzz-eld-'))
  let lb: BalancerProcess | undefined
  const crashLines: string[] = []
  let crashes = 0
  let monitor: NodeJS.Timeout | undefined
  try {
    const env: Record<string, string> = {
      NODE_OPTIONS: `--expose-gc --import ${PRELOAD}`,
      FUZZ_ELD_DIR: eldDir,
      LOG_LEVEL: 'warn',
    }
    if (opts.listener === 'node') env.LB_HTTP1_SERVER = 'node'
    lb = await startBalancerProcess({ config: campaignConfig(backends.urls), env, timeoutMs: 30_000 })
    const primary = lb.pid
    const deadline = Date.now() + 15_000
    while (childrenOf(primary).length !== 2 && Date.now() < deadline) await sleep(100)
    const workers = childrenOf(primary)
    if (workers.length !== 2) throw new Error(`expected 2 workers, found ${workers.length}\n${lb.output()}`)
    yieldToBalancer()
    let known = new Set(workers)
    monitor = setInterval(() => {
      const now = childrenOf(primary)
      for (const pid of now) if (!known.has(pid)) {
        crashes++
        crashLines.push(`new worker ${pid} (a worker was replaced)`)
      }
      for (const pid of known) if (!now.includes(pid)) crashLines.push(`worker ${pid} gone`)
      known = new Set(now)
    }, 500)
    const lbRef = lb

    const port = lb.port
    // The primary binds the port before it forks the workers: connections made before both listen wait in
    // the backlog, seconds on a loaded machine, and would count as hangs. Start once unrouted probes are
    // answered in a row (the primary hands connections to the workers in turn).
    await untilAnswering(port)
    const started = Date.now()
    let nextConn = 0
    let lastProgress = Date.now()

    const only = options.only
    /** Replays done per `only` entry (`--only ... --repeat N`). */
    const replayed = only?.map(() => 0)
    const lane = async (limit: number, laneIndex: number): Promise<void> => {
      // Whole connections until `limit` requests were sent (requests behind a refused one are not sent):
      // the connections under way finish, so the total ends a little above `limit`.
      while (stats.sent < limit) {
        let id: number
        if (only === undefined || replayed === undefined) id = nextConn++
        else {
          // A replay never runs beside another copy of itself: copies share their markers, and a backend event
          // could not tell which copy it belongs to (spurious duplicates and phantom answers). Lane i replays
          // `only[i]` alone, `repeat` times in a row; distinct ids still run side by side.
          const k = laneIndex
          if (k >= only.length || (replayed[k] as number) >= (options.repeat ?? 1)) return
          replayed[k] = (replayed[k] as number) + 1
          id = only[k] as number
        }
        const rng = new Rng(`${opts.seed}/${id}`)
        const plan = generateConnection(rng, id, { corpus })
        const state: ConnState = {
          plan,
          outcome: new Uint8Array(plan.requests.length),
          forwarded: new Uint8Array(plan.requests.length),
          aborted: new Uint8Array(plan.requests.length),
        }
        conns.set(id, state)
        stats.connections++
        const t0 = Date.now()
        await runConnection(port, state, rng, opts.hangMs, stats, find, refusedByMutation)
        if (process.env.FUZZ_DEBUG) {
          const k = `${plan.requests.at(-1)?.expect}:${plan.requests.at(-1)?.closes}:${plan.requests.length > 4 ? 'long' : 'short'}`
          const d = (debugTimes[k] ??= [0, 0])
          d[0]++
          d[1] += Date.now() - t0
        }
        // Forwards may trail the client's view by a moment: check the connection as a whole a bit later.
        if (state.outcome.includes(UNKNOWN)) failedConns.add(id)
        pendingChecks.push(sleep(3000).then(() => {
          crossCheck(state, find)
          // A replay of the same id may have started since (`--repeat`): it owns the entry now.
          if (conns.get(id) === state) conns.delete(id)
          retired.set(id, state.outcome)
        }))
        if (options.onProgress && Date.now() - lastProgress >= (options.progressMs ?? 5000)) {
          lastProgress = Date.now()
          options.onProgress(stats, Date.now() - started)
        }
      }
    }
    const pendingChecks: Array<Promise<void>> = []
    const debugTimes: Record<string, [number, number]> = {}
    const runLanes = async (limit: number): Promise<void> => {
      await Promise.all(Array.from({ length: opts.connections }, (_, i) => lane(limit, i)))
    }

    // Warm-up: JIT, keep-alive pools, buffers, allocator arenas. The RSS baseline is taken after it, idle,
    // after a full GC (see the oracle list above).
    await runLanes(opts.warmupRequests)
    await sleep(opts.settleMs)
    const rssStart = await settledRss(workers)
    await sleep(1500)
    const runStart = Date.now()
    // `requests` more after the warm-up.
    await runLanes(opts.warmupRequests + opts.requests)
    const runEnd = Date.now()
    await Promise.all(pendingChecks)
    const durationMs = Date.now() - started
    if (process.env.FUZZ_DEBUG) console.error(Object.entries(debugTimes).map(([k, [n, t]]) => `${k}: ${n} conns, ${Math.round(t / n)} ms avg`).join('\n'))
    // Let idle keep-alive sockets expire (upstream idle 4 s, client keep-alive 5 s), then measure again.
    await sleep(opts.settleMs)
    const eld = readEventLoopDelay(eldDir, runStart, runEnd)
    const rssEnd = await settledRss(workers)
    clearInterval(monitor)
    const out = lbRef.output()
    for (const line of out.split('\n')) {
      if (/exited \(|starting a replacement|FATAL|Maximum call stack|Uncaught|unhandled/i.test(line)) crashLines.push(line.slice(0, 300))
    }
    crashes += out.split('\n').filter((l) => /worker \d+ exited/.test(l)).length
    const exitCode = await lbRef.stop('SIGTERM')
    if (crashes > 0) {
      stats.findings.crash = crashes
      examples.push({ kind: 'crash', conn: -1, detail: crashLines.slice(0, 5).join(' | ') })
    }
    const workerReports: WorkerReport[] = workers.map((pid, i) => ({
      pid,
      rssStartKb: rssStart[i] ?? 0,
      rssEndKb: rssEnd[i] ?? 0,
      eventLoopMaxMs: eld.get(pid)?.max ?? NaN,
      eventLoopP99MaxMs: eld.get(pid)?.p99 ?? NaN,
      busyMaxMs: eld.get(pid)?.busy ?? NaN,
      cpuSource: eld.get(pid)?.cpuSource ?? 'unknown',
    }))
    const count = (pred: (k: string) => boolean): number =>
      Object.entries(stats.findings).filter(([k]) => pred(k)).reduce((a, [, n]) => a + n, 0)
    return {
      options: opts,
      stats,
      examples,
      workers: workerReports,
      crashes,
      crashLines,
      desyncs: count((k) => DESYNC_KINDS.has(k)),
      hangs: stats.findings.hang ?? 0,
      failures: count((k) => FAILURE_KINDS.has(k)),
      maxEventLoopDelayMs: Math.max(...workerReports.map((w) => w.eventLoopMaxMs)),
      maxBusyMs: Math.max(...workerReports.map((w) => w.busyMaxMs)),
      durationMs,
      startedAt: new Date(started),
      exitCode,
      refusedByMutation,
    }
  } finally {
    if (monitor !== undefined) clearInterval(monitor)
    await lb?.stop('SIGKILL')
    await backends.close()
    rmSync(eldDir, { recursive: true, force: true })
  }
}

/**
 * Lowers the priority of every thread of this process (the client lanes, the logging backends' thread,
 * libuv's pool; threads started later inherit it) below the balancer's, which started at the normal one.
 * The fuzzer, its backends and the balancer share the machine's cores: without this, a worker ready to run
 * waits while the fuzzer's threads hold the CPU, and its event-loop delay (wall clock) measures that wait.
 * With it, the delay is mostly the worker's own work. Linux only (threads are addressed by their ids);
 * elsewhere, or without the right to change priorities, nothing changes.
 */
function yieldToBalancer(): void {
  try {
    for (const tid of readdirSync('/proc/self/task')) setPriority(Number(tid), 10)
  } catch {
    // not Linux, or not allowed: measured as before
  }
}

/** RSS of each worker after a full GC in it (SIGWINCH, see eld-preload.mjs). */
/** Resolves once 8 probes in a row are answered within a second each (30 s at most, then throws). */
async function untilAnswering(port: number): Promise<void> {
  const deadline = Date.now() + 30_000
  let inRow = 0
  while (inRow < 8) {
    if (Date.now() > deadline) throw new Error('the balancer did not answer probes within 30 s')
    const answered = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      const timer = setTimeout(() => {
        socket.destroy()
        resolve(false)
      }, 1000)
      socket.on('error', () => {})
      socket.once('data', () => {
        clearTimeout(timer)
        socket.destroy()
        resolve(true)
      })
      socket.once('close', () => {
        clearTimeout(timer)
        resolve(false)
      })
      socket.write('GET /n/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    })
    inRow = answered ? inRow + 1 : 0
  }
}

async function settledRss(workers: readonly number[]): Promise<number[]> {
  for (const pid of workers) {
    try {
      process.kill(pid, 'SIGWINCH')
    } catch {
      // gone: reported as 0 KiB, and as a crash by the monitor
    }
  }
  await sleep(1000)
  return workers.map(rssKb)
}

/** Per worker over the seconds within [from, to]: max (and max p99) event-loop delay, longest busy stretch. */
function readEventLoopDelay(dir: string, from: number, to: number): Map<number, { max: number; p99: number; busy: number; cpuSource: WorkerReport['cpuSource'] }> {
  const out = new Map<number, { max: number; p99: number; busy: number; cpuSource: WorkerReport['cpuSource'] }>()
  for (const file of readdirSync(dir)) {
    const m = /^eld-(\d+)\.log$/.exec(file)
    if (m === null) continue
    let max = 0
    let p99 = 0
    let busy = 0
    let cpuSource: WorkerReport['cpuSource'] = 'unknown'
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const fields = line.split(' ')
      const [at, mx, p, b] = fields.slice(0, 4).map(Number)
      // Each line covers the second before `at`.
      if (at === undefined || mx === undefined || p === undefined || Number.isNaN(at) || at - 1000 < from || at > to + 1000) continue
      max = Math.max(max, mx)
      p99 = Math.max(p99, p)
      if (b !== undefined && !Number.isNaN(b)) busy = Math.max(busy, b)
      if (fields[4] === 'thread' || fields[4] === 'process') cpuSource = fields[4]
    }
    out.set(Number(m[1]), { max, p99, busy, cpuSource })
  }
  return out
}

/** After a connection: requests the client was not answered for must not have run on a backend. */
function crossCheck(state: ConnState, find: (f: Finding) => void): void {
  const { plan } = state
  plan.requests.forEach((req, i) => {
    const outcome = state.outcome[i]
    const fwd = state.forwarded[i] ?? 0
    if (outcome === OK && fwd === 0 && req.expect !== 'invalid') {
      find({ kind: 'phantom-answer', conn: plan.id, marker: req.marker, mutation: req.mutation, detail: 'answered 200 with its id but no backend saw it complete' })
    }
    if ((outcome === REFUSED || outcome === UNANSWERED || outcome === NOROUTE) && fwd > 0 && req.expect !== 'invalid') {
      find({ kind: 'desync-executed-unanswered', conn: plan.id, marker: req.marker, mutation: req.mutation, detail: `a backend ran it but the client ${outcome === UNANSWERED ? 'got no answer' : 'was told it was refused'}` })
    }
  })
}

/** Sends one connection's plan and checks what comes back. */
async function runConnection(
  port: number,
  state: ConnState,
  rng: Rng,
  hangMs: number,
  stats: CampaignStats,
  find: (f: Finding) => void,
  refusedByMutation: Record<string, number>,
): Promise<void> {
  const { plan } = state
  const socket = net.connect({ port, host: '127.0.0.1' })
  socket.setNoDelay(true)
  let next = 0
  let closed = false
  let closeAfter = -1 // index of the answer after which the server must (or, HTTP/1.0, may) close
  let closingSeen = false
  let tailAnswered = false
  let failed = false
  let lastActivity = Date.now()
  let wake: (() => void) | undefined
  const fail = (kind: string, detail: string, req?: PlannedRequest): void => {
    if (failed) return
    failed = true
    for (let i = next; i < plan.requests.length; i++) if (state.outcome[i] === 0) state.outcome[i] = UNKNOWN
    find({ kind, conn: plan.id, marker: req?.marker, mutation: req?.mutation, detail })
    socket.destroy()
  }
  const framer = new ResponseFramer((i) => plan.requests[i]?.isHead ?? false)
  const onResponse = (r: FramedResponse): void => {
    const req = plan.requests[next]
    if (closeAfter >= 0 && next > closeAfter) return fail('data-after-close', `a response after the one that closed: ${r.status}`)
    const lastReq = plan.requests[plan.requests.length - 1]
    // The probe behind an accepted, malformed-but-unambiguous request is just the next request.
    if (req === undefined && lastReq?.expect === 'invalid' && !lastReq.framing && state.outcome[plan.requests.length - 1] === OK && !tailAnswered) {
      tailAnswered = true
      return
    }
    if (req === undefined) return fail('extra-response', `response ${r.status} x-fuzz-id ${r.headers.get('x-fuzz-id') ?? '-'} to no request`)
    const id = r.headers.get('x-fuzz-id')
    const closing = /(^|,)\s*close\s*(,|$)/i.test(r.headers.get('connection') ?? '')
    if (closing) closingSeen = true
    stats.answered++
    if (r.status === 200 && id !== undefined) {
      if (id !== req.marker) return fail('out-of-order', `answer for ${id} in the slot of ${req.marker} (${req.mutation})`, req)
      state.outcome[next] = OK
      if (req.expect === 'lenient') stats.lenientForwarded++
    } else if (r.status === 404 && req.expect === 'noroute') {
      state.outcome[next] = NOROUTE
      stats.noroute404++
    } else if ((r.status >= 400 && r.status < 500) || (r.status === 501 && req.expect === 'invalid')) {
      state.outcome[next] = REFUSED
      stats.rejected[r.status] = (stats.rejected[r.status] ?? 0) + 1
      if (req.expect === 'invalid') stats.invalidRefused++
      else {
        refusedByMutation[`${req.expect}:${req.mutation}:${r.status}`] = (refusedByMutation[`${req.expect}:${req.mutation}:${r.status}`] ?? 0) + 1
        if (req.expect === 'valid' || req.expect === 'noroute') stats.validRefused++
        else stats.lenientRefused++
      }
      if (req.expect === 'invalid' && !closing) return fail('invalid-kept-open', `${r.status} without Connection: close to an invalid request (${req.mutation})`, req)
    } else if (r.status >= 500) {
      return fail('server-error', `${r.status} ${r.bodyStart.slice(0, 100)} for ${req.expect} ${req.mutation}`, req)
    } else {
      return fail('unexpected-status', `${r.status} x-fuzz-id ${id ?? '-'} for ${req.expect} ${req.mutation}`, req)
    }
    if (closing || req.closes || req.mayClose) {
      closeAfter = next
      if (closing && state.outcome[next] === OK && next < plan.requests.length - 1) stats.serverClosed++
      for (let i = next + 1; i < plan.requests.length; i++) state.outcome[i] = UNANSWERED
    }
    next++
  }
  socket.on('data', (chunk: Buffer) => {
    lastActivity = Date.now()
    if (failed) return
    // The skipped error body of a closing refusal to HEAD (response-framer.ts) may come in its own packet.
    if (closeAfter >= 0 && next > closeAfter && !framer.discarding) return fail('data-after-close', `bytes after the closing answer: ${JSON.stringify(chunk.subarray(0, 80).toString('latin1'))}`)
    try {
      for (const r of framer.push(chunk)) {
        onResponse(r)
        if (failed) break
      }
    } catch (err) {
      if (err instanceof FramingError) fail('malformed-response', `${err.message} (answer ${next})`, plan.requests[next])
      else throw err
    }
    wake?.()
  })
  socket.on('close', () => {
    if (!closed && !failed) {
      try {
        const r = framer.end()
        if (r !== undefined) onResponse(r)
      } catch (err) {
        if (err instanceof FramingError) fail('malformed-response', err.message, plan.requests[next])
      }
    }
    closed = true
    wake?.()
  })
  socket.on('error', () => {})
  socket.on('drain', () => {
    lastActivity = Date.now()
    wake?.()
  })

  /** Waits until `cond()`; false when nothing moved for `hangMs`. */
  const until = async (cond: () => boolean): Promise<boolean> => {
    while (!cond()) {
      const idle = Date.now() - lastActivity
      if (idle >= hangMs) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, hangMs - idle + 5)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      wake = undefined
    }
    return true
  }
  const hang = (what: string): void => {
    const pending = plan.requests[next]
    fail('hang', `${what}: ${next}/${plan.requests.length} answered, ${pending ? `waiting for ${pending.expect} ${pending.mutation} ${pending.method}` : 'waiting for close'}`, pending)
  }
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve)
    socket.once('close', resolve)
  })

  let first = 0
  for (let b = 0; b < plan.batches.length && !closed && !failed; b++) {
    const n = plan.batches[b] as number
    const reqs = plan.requests.slice(first, first + n)
    const lastBatch = b === plan.batches.length - 1
    const bytes = Buffer.concat([...reqs.map((r) => r.bytes), ...(lastBatch ? [plan.tail] : [])])
    const pieces = rng.range(1, plan.maxPieces)
    const cuts = Array.from({ length: pieces - 1 }, () => rng.int(bytes.length)).sort((x, y) => x - y)
    let at = 0
    lastActivity = Date.now()
    for (const cut of [...cuts, bytes.length]) {
      if (closed || failed) break
      if (cut <= at) continue
      if (!socket.write(bytes.subarray(at, cut))) {
        if (!(await until(() => socket.writableLength === 0 || closed || failed))) return hang('write blocked')
      }
      at = cut
      if (at < bytes.length && rng.chance(plan.pauseChance)) await sleep(rng.int(plan.maxPauseMs + 1))
    }
    if (closed || failed) break
    stats.sent += n
    first += n
    const target = first
    if (!(await until(() => next >= target || closed || failed || (closeAfter >= 0 && next > closeAfter)))) return hang('no answer')
    if (closeAfter >= 0) break
  }
  if (failed) return
  const lastReq = plan.requests[plan.requests.length - 1]
  const mustClose = closeAfter >= 0 && (closeAfter < plan.requests.length - 1 || lastReq?.mayClose !== true || closingSeen)
  const lastAccepted = state.outcome[plan.requests.length - 1] === OK
  if (mustClose || (lastReq?.expect === 'invalid' && !lastAccepted)) {
    // The server must close now.
    if (!(await until(() => closed || failed))) return hang('no close')
  }
  if (!closed && !failed && next < plan.requests.length) {
    if (!(await until(() => next >= plan.requests.length || closed || failed))) return hang('no answer')
  }
  if (!failed && next < plan.requests.length && (closeAfter < 0 || next <= closeAfter)) {
    const req = plan.requests[next]
    const answered = next
    for (let i = next; i < plan.requests.length; i++) state.outcome[i] = UNANSWERED
    if (!(req?.expect === 'invalid' && answered === plan.requests.length - 1)) {
      fail('early-close', `closed after ${answered}/${plan.requests.length} answers, next ${req?.expect} ${req?.mutation}`, req)
      return
    }
    fail('early-close', 'closed without an answer to the invalid request', req)
    return
  }
  socket.destroy()
}

/** The raw bytes of connection `id` of a campaign seeded `seed` (to reproduce a finding). */
export function showConnection(seed: string, id: number): ConnectionPlan {
  return generateConnection(new Rng(`${seed}/${id}`), id, { corpus: loadCorpusSeeds() })
}
