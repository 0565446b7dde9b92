/**
 * Backends that the bench starts for itself run as child processes (one each), never inside the bench
 * process: the load generator's own CPU use is then measured alone, which is how the bench tells when it,
 * not the target, is the bottleneck.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** A backend child process that printed `listening <port>`. */
export interface ChildBackend {
  readonly name: string
  readonly port: number
  readonly url: string
  /** SIGTERM, then SIGKILL after 3 s; resolves once the child exited. Idempotent. */
  stop(): Promise<void>
}

/**
 * The compiled sibling of a script in `src/` (`demo/backend-main` -> `dist/demo/backend-main.js`), or the
 * `.ts` source when this module itself runs from source (tsx), as `app.ts` does for the worker script.
 */
export function scriptPath(relativeToSrc: string): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  return fileURLToPath(new URL(`../${relativeToSrc}${ext}`, import.meta.url))
}

/**
 * Spawns `node <script> --name <name> ...args` with this process's node flags (so a tsx loader carries
 * over) and resolves once it prints `listening <port>`. Rejects if it exits first or after `timeoutMs`.
 */
export function spawnChildBackend(script: string, name: string, args: readonly string[], timeoutMs = 15_000): Promise<ChildBackend> {
  const child: ChildProcess = spawn(process.execPath, [...process.execArgv, script, '--name', name, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const kill = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(kill)
    })()
    return stopped
  }
  return new Promise<ChildBackend>((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    const fail = (why: string): void => {
      clearTimeout(timer)
      void stop()
      reject(new Error(`backend ${name} ${why}${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`))
    }
    const timer = setTimeout(() => fail(`did not start within ${timeoutMs} ms`), timeoutMs)
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void => fail(`exited early (${signal ?? code})`)
    child.once('exit', onEarlyExit)
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < 4096) stderr += s
    })
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      stdout += s
      const match = /^listening (\d+)$/m.exec(stdout)
      if (match === null) return
      clearTimeout(timer)
      child.off('exit', onEarlyExit)
      child.stdout?.removeAllListeners('data').resume()
      const port = Number(match[1])
      resolve({ name, port, url: `http://127.0.0.1:${port}`, stop })
    })
  })
}
