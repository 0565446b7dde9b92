/**
 * A sample backend in its own child process (`src/demo/backend-main.ts` run through tsx), so a test can
 * SIGKILL it, see the balancer react, and restart it on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const mainPath = fileURLToPath(new URL('../../src/demo/backend-main.ts', import.meta.url))

/** Line pushed into `requestLog` when the backend restarts, so a test can tell the two runs apart. */
export const RESTART_MARKER = '--restart--'

/** A running backend process. `pid` changes after {@link BackendProcess.restart}; `port` does not. */
export interface BackendProcess {
  readonly name: string
  readonly pid: number
  readonly port: number
  readonly url: string
  /** True until the current child exits. */
  readonly isRunning: boolean
  /** Sends `signal` (default SIGKILL) and resolves once the child has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Kills the child if it still runs, then starts a new one on the same port (retrying while the port is busy). */
  restart(): Promise<void>
  /** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. Idempotent. */
  stop(): Promise<void>
  /** With `logRequests`: every `req METHOD URL USER-AGENT` line, in arrival order, across restarts. */
  readonly requestLog: string[]
}

interface Started {
  child: ChildProcess
  port: number
  exited: Promise<void>
}

/** Starts one child and resolves when it prints `listening <port>`; rejects if it exits first or after `timeoutMs`. */
function startChild(name: string, port: number, timeoutMs: number, log?: string[]): Promise<Started> {
  const args = ['--import', 'tsx', mainPath, '--name', name, '--port', String(port)]
  if (log !== undefined) args.push('--log-requests')
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    const fail = (why: string): void => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`backend process ${name} (port ${port}) ${why}; stderr: ${stderr.trim()}`))
    }
    const timer = setTimeout(() => fail(`did not start within ${timeoutMs} ms`), timeoutMs)
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s
    })
    let partial = ''
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      stdout += s
      if (log !== undefined) {
        const lines = (partial + s).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) if (line.startsWith('req ')) log.push(line)
      }
      const match = /^listening (\d+)$/m.exec(stdout)
      if (match === null) return
      clearTimeout(timer)
      child.removeListener('exit', onEarlyExit)
      resolve({ child, port: Number(match[1]), exited })
    })
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void => fail(`exited early (${signal ?? code})`)
    child.once('exit', onEarlyExit)
  })
}

/**
 * Spawns `node --import tsx src/demo/backend-main.ts --name <name> --port <port>` (port default 0: ephemeral,
 * then kept for restarts). Resolves once the backend listens. Stop it in `t.after(() => p.stop())`.
 */
export async function spawnBackendProcess(
  name: string,
  port = 0,
  options: { timeoutMs?: number; logRequests?: boolean } = {},
): Promise<BackendProcess> {
  const timeoutMs = options.timeoutMs ?? 20_000
  const log = options.logRequests === true ? ([] as string[]) : undefined
  let current = await startChild(name, port, timeoutMs, log)
  let running = true
  const track = (s: Started): void => {
    void s.exited.then(() => {
      if (current === s) running = false
    })
  }
  track(current)
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (running) current.child.kill(signal)
    await current.exited
  }
  return {
    name,
    get pid() {
      return current.child.pid ?? -1
    },
    port: current.port,
    url: `http://127.0.0.1:${current.port}`,
    get isRunning() {
      return running
    },
    kill,
    requestLog: log ?? [],
    restart: async () => {
      await kill('SIGKILL')
      log?.push(RESTART_MARKER)
      const deadline = performance.now() + timeoutMs
      for (;;) {
        try {
          current = await startChild(name, current.port, timeoutMs, log)
          running = true
          return track(current)
        } catch (err) {
          // The port may still be held for a moment after the kill: retry until the deadline.
          if (performance.now() > deadline) throw err
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    },
    stop: async () => {
      if (!running) return current.exited
      current.child.kill('SIGTERM')
      const timer = setTimeout(() => current.child.kill('SIGKILL'), 5000)
      await current.exited
      clearTimeout(timer)
    },
  }
}
