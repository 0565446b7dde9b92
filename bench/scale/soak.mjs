// The soak: the balancer under a steady load at a fixed rate (half its measured peak) for a long time,
// RSS of every worker and its V8 heap (from the admin server's /metrics) read once a minute, drawn as SVG.
import http from 'node:http'
import path from 'node:path'
import { HOST, ROOT, log, sleep } from '../lib/util.mjs'
import { procs, startProc } from '../lib/processes.mjs'
import { rssMiB, workerPids } from './targets.mjs'

function getText(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: urlPath, agent: false, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve(body))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** Sum of `nodejs_heap_size_used_bytes` over the proxy workers, MiB (the primary's series excluded). */
async function workersHeapMiB(adminPort) {
  const text = await getText(adminPort, '/metrics')
  let sum = 0
  for (const m of text.matchAll(/^nodejs_heap_size_used_bytes\{[^}]*worker="([^"]+)"[^}]*\} ([\d.e+]+)$/gm)) {
    if (m[1] !== 'primary') sum += Number(m[2])
  }
  return sum / 2 ** 20
}

/**
 * Runs `lb bench` against the target at `rate` requests/s for `minutes`, sampling every minute.
 * Returns { rate, samples: [{ minute, rssMiB: [per worker], heapMiB }], flat: { rss, heap } } where flat
 * compares the last sample with the one after the first minute (warm-up excluded): growth in percent.
 */
export async function soak(target, { minutes, rate }) {
  const cli = path.join(ROOT, 'dist', 'cli.js')
  const url = `http://${HOST}:${target.port}${target.request.path}`
  const load = startProc('soak-load', process.execPath, [cli, 'bench', '--target', url, '--connections', '32', '--rate', String(Math.max(1, Math.round(rate))), '--duration', `${minutes}m`])
  const samples = []
  try {
    for (let minute = 0; minute <= minutes; minute++) {
      if (minute > 0) await sleep(60_000)
      const rss = workerPids(target).map(rssMiB).filter((x) => x !== null)
      const heapMiB = await workersHeapMiB(target.adminPort).catch(() => null)
      samples.push({ minute, rssMiB: rss, heapMiB })
      log(`soak minute ${minute}: RSS ${rss.map((x) => x.toFixed(1)).join(' / ')} MiB, heap ${heapMiB?.toFixed(1)} MiB`)
    }
  } finally {
    load.child.kill('SIGTERM')
    await load.exited
    procs.splice(procs.indexOf(load), 1)
  }
  const total = (s) => s.rssMiB.reduce((a, b) => a + b, 0)
  const base = samples[Math.min(1, samples.length - 1)]
  const last = samples[samples.length - 1]
  const growth = (a, b) => (a === null || b === null || a === 0 ? null : ((b - a) / a) * 100)
  return { rate, samples, flat: { rss: growth(total(base), total(last)), heap: growth(base.heapMiB, last.heapMiB) } }
}

/** An SVG line chart of the soak: total worker RSS and heap (MiB) per minute. */
export function soakSvg(result) {
  const W = 640
  const H = 300
  const pad = 40
  const pts = result.samples
  const rss = pts.map((s) => s.rssMiB.reduce((a, b) => a + b, 0))
  const heap = pts.map((s) => s.heapMiB ?? 0)
  const maxY = Math.max(1, ...rss, ...heap) * 1.1
  const maxX = Math.max(1, pts.length - 1)
  const x = (i) => pad + (i / maxX) * (W - 2 * pad)
  const y = (v) => H - pad - (v / maxY) * (H - 2 * pad)
  const line = (vals, color) => `<polyline fill="none" stroke="${color}" stroke-width="2" points="${vals.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = maxY * f
    return `<text x="${pad - 4}" y="${y(v) + 4}" font-size="10" text-anchor="end">${v.toFixed(0)}</text><line x1="${pad}" x2="${W - pad}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${ticks.join('\n')}
${line(rss, '#1f77b4')}
${line(heap, '#d62728')}
<text x="${pad}" y="20" font-size="12">Soak at ${Math.round(result.rate)} req/s: workers' RSS (blue) and V8 heap used (red), MiB, per minute</text>
<text x="${W / 2}" y="${H - 8}" font-size="10" text-anchor="middle">minutes (0-${maxX})</text>
</svg>
`
}
