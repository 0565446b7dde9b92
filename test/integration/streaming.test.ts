// Streaming with back-pressure through the real balancer (`node dist/cli.js start`, one worker; run
// `npx tsc -p tsconfig.build.json` first): 50 MiB up and down pass intact (sha256 compared) while the resident
// memory of the balancer's process tree (primary + worker) grows by less than 30 MiB over a warmed-up
// baseline; a client that stops reading mid-download does not make the balancer buffer the body (it
// holds about 1 MiB per stalled stream). RSS is sampled every 100 ms; the test asserts on the maximum, not on speed.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import http from 'node:http'
import { startSampleBackend, expectedDownloadSha256, type SampleBackend } from '../../src/demo/index.js'
import { startBalancerProcess, type BalancerProcess } from '../helpers/balancer-process.js'

const MiB = 1024 * 1024
const SIZE = 50 * MiB
const RSS_BUDGET = 30 * MiB

/** VmRSS of one process in bytes, 0 when it is gone. */
function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

/** `pid` and all its descendants (through /proc/<pid>/task/<tid>/children). */
function processTree(pid: number): number[] {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number
    let tasks: string[] = []
    try {
      tasks = readdirSync(`/proc/${p}/task`)
    } catch {
      continue
    }
    for (const tid of tasks) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
          if (c !== '') out.push(Number(c))
        }
      } catch {
        // the task ended meanwhile
      }
    }
  }
  return out
}

const treeRss = (pid: number): number => processTree(pid).reduce((sum, p) => sum + rssOf(p), 0)

/** Samples the tree's RSS every 100 ms until stopped; returns the maximum seen. */
function sampleRss(pid: number): { stop(): number } {
  let max = treeRss(pid)
  const timer = setInterval(() => (max = Math.max(max, treeRss(pid))), 100)
  return {
    stop: () => {
      clearInterval(timer)
      return Math.max(max, treeRss(pid))
    },
  }
}

/** POSTs `size` deterministic bytes to /upload with back-pressure; resolves with the client's hash and the answer. */
function upload(port: number, size: number): Promise<{ sent: string; answer: { bytes: number; sha256: string } }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false, headers: { 'content-length': String(size) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          assert.equal(res.statusCode, 200, Buffer.concat(chunks).toString())
          resolve({ sent: hash.digest('hex'), answer: JSON.parse(Buffer.concat(chunks).toString()) as { bytes: number; sha256: string } })
        } catch (err) {
          reject(err)
        }
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    const block = Buffer.alloc(64 * 1024)
    let offset = 0
    const pump = (): void => {
      while (offset < size) {
        const n = Math.min(block.length, size - offset)
        const chunk = Buffer.from(block.subarray(0, n))
        chunk.writeUInt32BE(offset >>> 0, 0)
        hash.update(chunk)
        offset += n
        if (!req.write(chunk)) return void req.once('drain', pump)
      }
      req.end()
    }
    pump()
  })
}

/**
 * GETs /download/`size` and hashes the body. `pauseAt`: after that many bytes, stop reading for `pauseMs`
 * (the socket stays open, the balancer must apply back-pressure), then read the rest.
 */
function download(port: number, size: number, pause?: { at: number; ms: number; during?: () => void }): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/download/${size}`, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`))
      const hash = createHash('sha256')
      let bytes = 0
      let paused = false
      res.on('data', (c: Buffer) => {
        hash.update(c)
        bytes += c.length
        if (pause !== undefined && !paused && bytes >= pause.at) {
          paused = true
          res.pause()
          setTimeout(() => {
            pause.during?.()
            res.resume()
          }, pause.ms)
        }
      })
      res.on('end', () => resolve({ bytes, sha256: hash.digest('hex') }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

describe('streaming through the balancer process', { timeout: 180_000 }, () => {
  let backend: SampleBackend
  let lb: BalancerProcess
  let baseline = 0

  before(async () => {
    backend = await startSampleBackend({ name: 'stream' })
    lb = await startBalancerProcess({
      config: {
        workers: 1,
        log: { level: 'warn', accessLog: false },
        pools: { main: { backends: [{ url: backend.url }], healthCheck: { enabled: false } } },
      },
      env: { WORKER_COUNT: '', LOG_LEVEL: 'warn' },
      timeoutMs: 30_000,
    })
    assert.ok(processTree(lb.pid).length >= 2, `primary and worker: ${processTree(lb.pid).join(', ')}`)
    // Warm-up: connections, JIT and the first buffers, then the baseline.
    for (let i = 0; i < 3; i++) {
      await upload(lb.port, 4 * MiB)
      await download(lb.port, 4 * MiB)
    }
    await new Promise((r) => setTimeout(r, 500))
    baseline = treeRss(lb.pid)
  })
  after(async () => {
    await lb?.stop()
    await backend?.stop()
  })

  it('a 50 MiB upload arrives intact without the balancer buffering it', async (t) => {
    const rss = sampleRss(lb.pid)
    const { sent, answer } = await upload(lb.port, SIZE)
    const max = rss.stop()
    t.diagnostic(`RSS baseline ${(baseline / MiB).toFixed(1)} MiB, max growth ${((max - baseline) / MiB).toFixed(1)} MiB`)
    assert.equal(answer.bytes, SIZE)
    assert.equal(answer.sha256, sent)
    assert.ok(max - baseline < RSS_BUDGET, `RSS grew by ${((max - baseline) / MiB).toFixed(1)} MiB (baseline ${(baseline / MiB).toFixed(1)} MiB)`)
  })

  it('a 50 MiB download arrives intact without the balancer buffering it', async (t) => {
    const rss = sampleRss(lb.pid)
    const got = await download(lb.port, SIZE)
    const max = rss.stop()
    t.diagnostic(`RSS baseline ${(baseline / MiB).toFixed(1)} MiB, max growth ${((max - baseline) / MiB).toFixed(1)} MiB`)
    assert.equal(got.bytes, SIZE)
    assert.equal(got.sha256, expectedDownloadSha256(SIZE))
    assert.ok(max - baseline < RSS_BUDGET, `RSS grew by ${((max - baseline) / MiB).toFixed(1)} MiB (baseline ${(baseline / MiB).toFixed(1)} MiB)`)
  })

  it('a slow reader pausing mid-download does not make the balancer buffer the body', async (t) => {
    const rss = sampleRss(lb.pid)
    let duringPause = 0
    const got = await download(lb.port, SIZE, { at: 5 * MiB, ms: 4000, during: () => (duringPause = treeRss(lb.pid)) })
    const max = rss.stop()
    t.diagnostic(`RSS baseline ${(baseline / MiB).toFixed(1)} MiB, max growth ${((max - baseline) / MiB).toFixed(1)} MiB`)
    assert.equal(got.bytes, SIZE)
    assert.equal(got.sha256, expectedDownloadSha256(SIZE))
    assert.ok(duringPause > 0)
    assert.ok(max - baseline < RSS_BUDGET, `RSS grew by ${((max - baseline) / MiB).toFixed(1)} MiB (baseline ${(baseline / MiB).toFixed(1)} MiB, ` +
      `${((duringPause - baseline) / MiB).toFixed(1)} MiB at the end of the pause)`)
  })
})
