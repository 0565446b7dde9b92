/**
 * Throwaway Redis servers for tests: standalone, a 3-master Cluster and a master + Sentinel, each on free
 * ports of 127.0.0.1 with no persistence (`--save "" --appendonly no`), in a temporary directory.
 * Never the Redis on 6379. Children are stopped by pid (and killed when the test process exits).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getFreePort } from './net.js'

/** One redis-server (or sentinel) child. `port` survives restart(). */
export interface RedisServer {
  readonly port: number
  readonly pid: number
  /** Sends a signal: SIGKILL (waits for the exit), SIGSTOP, SIGCONT, SIGTERM. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Kills the process if it still runs and starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>
  /** Stops the process (SIGCONT + SIGKILL) and waits for its exit. Idempotent. */
  stop(): Promise<void>
}

/** A running Redis setup. */
export interface RedisHandle extends RedisServer {
  /** `redis://127.0.0.1:<port>` of the (first) server. */
  readonly url: string
  readonly ports: number[]
  readonly servers: RedisServer[]
}

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

/** Resolves once `port` answers PING with PONG, rejects after `timeoutMs` or once `hasFailed()` says so. */
async function waitForPong(port: number, timeoutMs = 5_000, hasFailed: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (hasFailed()) throw new Error(`redis on ${port} failed to start`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      let buf = ''
      const done = (v: boolean): void => {
        s.destroy()
        resolve(v)
      }
      s.setTimeout(300, () => done(false))
      s.on('error', () => done(false))
      s.on('connect', () => s.write('PING\r\n'))
      s.on('data', (d) => {
        buf += d.toString()
        if (buf.includes('\r\n')) done(buf.startsWith('+PONG'))
      })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis on ${port} did not answer PING`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The server binary, found on PATH (`redis-server`; Sentinel is the same binary with `--sentinel`). */
const REDIS_SERVER = 'redis-server'

/** Runs redis-cli with `args`, resolves with its stdout. */
export function redisCli(args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`redis-cli ${args.join(' ')}: ${err.message} ${stderr}`))
      else resolve(stdout)
    })
  })
}

function startServer(port: number, args: (port: number) => string[], dir: string): Promise<RedisServer> {
  let child: ChildProcess
  let exited: Promise<void>
  const launch = async (): Promise<void> => {
    child = spawn(REDIS_SERVER, args(port), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
    live.add(child)
    const c = child
    // Without an 'error' listener a missing binary is an uncaught exception that ends the whole test
    // process; with it, the start fails with a message saying what to install.
    let spawnFailed = false
    const failed = new Promise<never>((_resolve, reject) => c.once('error', (err: NodeJS.ErrnoException) => {
      spawnFailed = true
      live.delete(c)
      reject(new Error(err.code === 'ENOENT'
        ? `${REDIS_SERVER} not found on PATH: the Redis tests start their own servers; install it (Debian: apt-get install redis-server)`
        : `${REDIS_SERVER} could not be started: ${err.message}`, { cause: err }))
    }))
    exited = new Promise((resolve) => c.once('exit', () => {
      live.delete(c)
      resolve()
    }))
    await Promise.race([waitForPong(port, 5_000, () => spawnFailed), failed, exited.then(() => { throw new Error(`redis-server on ${port} exited at start`) })])
  }
  // pid is undefined when the spawn itself failed (no process to stop).
  const running = (): boolean => child.pid !== undefined && child.exitCode === null && child.signalCode === null
  const server: RedisServer = {
    port,
    get pid() {
      return child.pid ?? -1
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!running()) return
      child.kill(signal)
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited
    },
    async restart() {
      await server.stop()
      const deadline = Date.now() + 5_000
      for (;;) {
        try {
          await launch()
          return
        } catch (err) {
          if (Date.now() > deadline) throw err
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    },
    async stop() {
      if (!running()) return
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited
    },
  }
  return launch().then(() => server)
}

const base = (port: number): string[] => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no']

function handle(servers: RedisServer[], dir: string): RedisHandle {
  const first = servers[0] as RedisServer
  return {
    servers,
    ports: servers.map((s) => s.port),
    port: first.port,
    get pid() {
      return first.pid
    },
    url: `redis://127.0.0.1:${first.port}`,
    kill: (signal) => first.kill(signal),
    restart: () => first.restart(),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Starts one standalone redis-server on a free port. */
export async function startRedis(): Promise<RedisHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-redis-'))
  const server = await startServer(await getFreePort(), base, dir)
  return handle([server], dir)
}

/**
 * Starts a 3-master Cluster (no replicas) and waits until every node reports `cluster_state:ok`.
 * `servers[i]` is node i; `kill`/`restart` act on node 0.
 */
export async function startRedisCluster(masters = 3): Promise<RedisHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-redis-cluster-'))
  const ports: number[] = []
  while (ports.length < masters) {
    const p = await getFreePort()
    // The cluster bus listens on port + 10000: keep both below 65536 and distinct.
    if (p + 10_000 < 65_536 && !ports.includes(p)) ports.push(p)
  }
  const args = (p: number): string[] => [
    ...base(p), '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${p}.conf`), '--cluster-node-timeout', '2000',
  ]
  const servers = await Promise.all(ports.map((p) => startServer(p, args, dir)))
  try {
    await redisCli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], 20_000)
    const deadline = Date.now() + 10_000
    for (;;) {
      const infos = await Promise.all(ports.map((p) => redisCli(['-p', String(p), 'cluster', 'info'])))
      if (infos.every((i) => i.includes('cluster_state:ok'))) break
      if (Date.now() > deadline) throw new Error('redis cluster did not reach cluster_state:ok')
      await new Promise((r) => setTimeout(r, 100))
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()))
    throw err
  }
  return handle(servers, dir)
}

/** A master plus one Sentinel monitoring it (quorum 1) under `name`. */
export interface RedisSentinelHandle extends RedisHandle {
  /** The master's name as the sentinel knows it. */
  readonly name: string
  readonly sentinelPort: number
  readonly sentinel: RedisServer
}

/** Starts a master and a Sentinel that monitors it; resolves once the sentinel reports the master's address. */
export async function startRedisSentinel(name = 'lbmaster'): Promise<RedisSentinelHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-redis-sentinel-'))
  const master = await startServer(await getFreePort(), base, dir)
  const sentinelPort = await getFreePort()
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(conf, [
    `port ${sentinelPort}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${name} 2000`,
    `sentinel failover-timeout ${name} 10000`, '',
  ].join('\n'))
  let sentinel: RedisServer
  try {
    sentinel = await startServer(sentinelPort, () => [conf, '--sentinel'], dir)
    const deadline = Date.now() + 10_000
    for (;;) {
      const out = await redisCli(['-p', String(sentinelPort), 'sentinel', 'get-master-addr-by-name', name])
      if (out.includes(String(master.port))) break
      if (Date.now() > deadline) throw new Error('sentinel does not know the master')
      await new Promise((r) => setTimeout(r, 100))
    }
  } catch (err) {
    await master.stop()
    throw err
  }
  const h = handle([master, sentinel], dir)
  return { ...h, url: h.url, name, sentinelPort, sentinel, kill: h.kill, restart: h.restart, stop: h.stop, get pid() { return master.pid } }
}
