import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { getFreePort, getFreePorts } from './net.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Repository root (this file lives in test/helpers/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The built CLI that users run (`npm run build` happens in `pretest`). */
export const CLI = join(REPO_ROOT, 'dist', 'cli.js')

/** A balancer running as a real process tree (`node dist/cli.js start`). */
export interface BalancerProcess {
  readonly pid: number
  readonly port: number
  readonly child: ChildProcess
  /** Everything printed so far (stdout + stderr). */
  output(): string
  /** Sends a signal and resolves with the exit code once the process exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
  /** Resolves with the exit code when the process exits by itself. */
  exited: Promise<number | null>
  /** The temporary configuration file written from `config` ('' when none): rewrite it to test reloads. */
  readonly configFile: string
}

/** Options of {@link startBalancerProcess}. */
export interface BalancerProcessOptions {
  /** Written to a temporary lb.config.json and passed with --config. Omit to rely on cwd/env. */
  config?: Record<string, unknown>
  env?: Record<string, string>
  args?: string[]
  cwd?: string
  /** Port to listen on; default: a free one (set through PORT unless config.listen says otherwise). */
  port?: number
  /** Line that tells the balancer is ready. */
  readyPattern?: RegExp
  timeoutMs?: number
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the one helper for it: net.ts). */
export const freePort = getFreePort

/** Starts `lb start` as a child process and waits until it listens. */
export async function startBalancerProcess(options: BalancerProcessOptions = {}): Promise<BalancerProcess> {
  // Listener and admin ports together, so that they differ.
  const [freeListen, freeAdmin] = await getFreePorts(2)
  const port = options.port ?? (freeListen as number)
  const args = [CLI, 'start', ...(options.args ?? [])]
  let dir: string | undefined
  let file = ''
  if (options.config !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'lb-test-'))
    file = join(dir, 'lb.config.json')
    writeFileSync(file, JSON.stringify(options.config, null, 2))
    args.push('--config', file)
  }
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, PORT: String(port), ADMIN_PORT: String(freeAdmin), LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    resolve(code)
  }))
  const ready = options.readyPattern ?? /lb: listening on/
  const timeoutMs = options.timeoutMs ?? 20_000
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`balancer not ready after ${timeoutMs} ms:\n${out}`)), timeoutMs)
    const check = (): void => {
      if (ready.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`balancer exited with ${code} before it was ready:\n${out}`))
    })
  })
  return {
    pid: child.pid as number,
    port,
    child,
    output: () => out,
    exited,
    configFile: file,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

/** The child processes of `pid` (a primary's workers), from /proc; [] once it is gone. */
export function childrenOf(pid: number): number[] {
  try {
    const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
    return tasks === '' ? [] : tasks.split(/\s+/).map(Number)
  } catch {
    return []
  }
}
