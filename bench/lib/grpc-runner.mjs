// Runs bench/grpc-load.mjs (the gRPC unary load loop) once against a port, sampling its CPU like wrk's, and
// turns its JSON line into the figures a wrk run gives (errors = calls that did not end with status OK).
import { spawn } from 'node:child_process'
import path from 'node:path'
import { ROOT, abort } from './util.mjs'
import { readStat, signal } from './processes.mjs'

/** The load of the gRPC scenario against `port` for `seconds`; resolves { out, wrkTicks } as runWrk does. */
export function runGrpcLoad({ port, connections, concurrency, seconds }) {
  return new Promise((resolve, reject) => {
    const args = [path.join(ROOT, 'bench', 'grpc-load.mjs'), '--port', String(port), '--connections', String(connections), '--concurrency', String(concurrency), '--duration', String(seconds)]
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    let ticks = 0
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    const sampler = setInterval(() => {
      const st = child.pid === undefined ? null : readStat(child.pid)
      if (st) ticks = st.ticks
    }, 200)
    const hardStop = setTimeout(() => signal(child.pid, 'SIGKILL'), (seconds + 30) * 1000)
    const onAbort = () => signal(child.pid, 'SIGKILL')
    abort.signal.addEventListener('abort', onAbort, { once: true })
    child.on('error', reject)
    child.on('close', (code, sig) => {
      clearInterval(sampler)
      clearTimeout(hardStop)
      abort.signal.removeEventListener('abort', onAbort)
      if (abort.signal.aborted) return reject(new Error('aborted'))
      if (code !== 0) return reject(new Error(`grpc-load failed (${code ?? sig}): ${err || out}`))
      resolve({ out, wrkTicks: ticks })
    })
  })
}

/** A grpc-load JSON line -> the fields parseWrk returns. */
export function parseGrpcLoad(out) {
  const j = JSON.parse(out.trim().split('\n').pop())
  if (!(j.requests > 0)) throw new Error(`no gRPC call completed: ${out}`)
  return {
    rps: j.rps,
    requests: j.requests,
    p50us: j.p50us,
    p75us: j.p75us,
    p90us: j.p90us,
    p99us: j.p99us,
    socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: j.errors,
    grpcCodes: j.codes,
  }
}
