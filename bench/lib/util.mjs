// Small shared helpers of the benchmark harness: paths, logging, durations, the abort signal, free ports, one GET.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT = path.resolve(BENCH_DIR, '..')
export const HOST = '127.0.0.1'

export const log = (msg) => process.stderr.write(`bench: ${msg}\n`)

/** "10s" | "500ms" | "1m" | "10" (seconds) -> whole seconds (>= 1; wrk takes whole seconds). */
export function parseDurationS(text, what) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(String(text))
  if (!m) throw new UsageError(`${what}: expected a duration like 10s, 500ms or 1m, got "${text}"`)
  const n = Number(m[1])
  const s = m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n
  return Math.max(1, Math.ceil(s))
}

export class UsageError extends Error {}

/** Abort everything in flight (Ctrl-C / SIGTERM). */
export const abort = new AbortController()

export function sleep(ms) {
  return new Promise((resolve, reject) => {
    if (abort.signal.aborted) return reject(new Error('aborted'))
    const t = setTimeout(() => {
      abort.signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(new Error('aborted'))
    }
    abort.signal.addEventListener('abort', onAbort, { once: true })
  })
}

export function findBin(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin']
  for (const dir of dirs) {
    if (!dir) continue
    const p = path.join(dir, name)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      if (fs.statSync(p).isFile()) return p
    } catch {
      // not here
    }
  }
  return null
}

export function versionOf(bin, args, pattern) {
  if (!bin) return 'not installed'
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000 })
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`
  const m = pattern.exec(out)
  return m ? m[1] : out.trim().split('\n')[0] || 'unknown'
}

export const usedPorts = new Set()
/** A free 127.0.0.1 TCP port (bound, then released; never the same twice in one run). */
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer()
      srv.unref()
      srv.on('error', reject)
      srv.listen(0, HOST, () => {
        const { port: p } = srv.address()
        srv.close(() => resolve(p))
      })
    })
    if (!usedPorts.has(port)) {
      usedPorts.add(port)
      return port
    }
  }
  throw new Error('no free port found')
}

/** One GET on 127.0.0.1 -> { status, length } (rejects after timeoutMs). */
export function httpGet(port, urlPath, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let length = 0
      res.on('data', (c) => (length += c.length))
      res.on('end', () => resolve({ status: res.statusCode, length }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

/** Median of the numbers in `xs` (null and undefined skipped); null when none. */
export const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b)
  if (v.length === 0) return null
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
