// `npm run fuzz:listener [-- --mode listener|fast --against node|own --streams 100000 --seed 1 --concurrency 16 --max-seconds 0 --out FILE]`
// The long differential run of the HTTP/1.1 listeners (own vs node:http; `--mode fast`: the fast path vs
// node:http + undici): seeded random pipelined streams
// through both balancers to one logging backend (test/differential/listener-diff.ts has the streams and
// the deliberate differences). Prints progress and a summary; writes the summary to --out.
import { writeFileSync } from 'node:fs'
import { compareStream, DELIBERATE, makeStream, startListener, startLoggingBackend } from '../test/differential/listener-diff.js'

function arg(name: string, fallback: number | string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : String(fallback)
}

/** `listener`: own listener vs node:http (both through undici); `fast`: the fast path vs node:http + undici. */
const mode = arg('mode', 'listener')
if (mode !== 'listener' && mode !== 'fast') throw new Error(`--mode: expected listener or fast, got ${mode}`)
/** What the first balancer is compared with: `node` (node:http + undici, default) or `own` (own listener + undici: the upstream side alone). */
const against = arg('against', 'node')
if (against !== 'node' && against !== 'own') throw new Error(`--against: expected node or own, got ${against}`)
const streams = Number(arg('streams', 100_000))
const seed = Number(arg('seed', 1))
const concurrency = Number(arg('concurrency', 16))
const out = arg('out', mode === 'fast' ? 'bench/FUZZ-FAST-PATH.md' : 'bench/FUZZ-LISTENER.md')
/** Stop starting new streams after this many seconds (0 = run all); the summary says how many ran. */
const maxSeconds = Number(arg('max-seconds', 0))
/** Only these stream numbers (comma-separated), to re-check differences found before. */
const only = arg('only', '') === '' ? undefined : arg('only', '').split(',').map(Number)

const backend = await startLoggingBackend()
const own = await startListener(mode === 'fast' ? 'fast' : 'own', backend.url)
const node = await startListener(against === 'own' ? 'own' : 'node', backend.url)
const started = Date.now()
const differences: string[] = []
const kinds = new Map<string, number>()
let done = 0
let next = 0
let requests = 0
let once = 0

async function worker(): Promise<void> {
  for (;;) {
    if (maxSeconds > 0 && Date.now() - started > maxSeconds * 1000) return
    const n = next++
    const i = only === undefined ? n : (only[n] ?? streams)
    if (i >= streams || (only !== undefined && n >= only.length)) return
    const stream = makeStream(seed, i)
    for (const k of stream.kinds) kinds.set(k, (kinds.get(k) ?? 0) + 1)
    requests += stream.kinds.length
    let diff = await compareStream(own.port, node.port, backend, stream)
    // A difference must repeat to count: one seen once is timing on a busy machine (counted apart).
    if (diff !== undefined) {
      once++
      diff = await compareStream(own.port, node.port, backend, stream)
    }
    if (diff !== undefined) {
      differences.push(`stream ${seed}/${i}: ${diff}`)
      console.log(`DIFF stream ${seed}/${i}: ${diff.split('\n')[0]}`)
    }
    done++
    if (done % 1000 === 0) console.log(`${done}/${streams} streams, ${differences.length} differ, ${((Date.now() - started) / 1000).toFixed(0)} s`)
  }
}

await Promise.all(Array.from({ length: concurrency }, () => worker()))
const seconds = (Date.now() - started) / 1000
await own.close()
await node.close()
backend.close()

const lines = [
  mode === 'fast' ? `# Differential run of the fast path (own listener, own upstream HTTP/1.1 connections) vs ${against === 'own' ? 'the own listener + undici' : 'node:http + undici'}` : '# Differential run of the HTTP/1.1 listeners (own vs node:http)',
  '',
  `Last run: ${new Date().toISOString()}, Node ${process.version}, seed ${seed}, ${concurrency} streams at a time.`,
  `Command: \`npm run fuzz:listener${mode === 'fast' ? ' -- --mode fast' : ''}\` (bench/fuzz-listener.ts; streams and normalisation in test/differential/listener-diff.ts).`,
  '',
  '| streams | requests | differing streams (twice) | differing once, then equal (timing) | duration |',
  '|---:|---:|---:|---:|---:|',
  `| ${done} | ${requests} | ${differences.length} | ${once - differences.length} | ${seconds.toFixed(0)} s |`,
  '',
  'Requests by kind (each stream also ends with a `Connection: close` request or a half-close):',
  '',
  '| kind | count |',
  '|---|---:|',
  ...[...kinds.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `| ${k} | ${n} |`),
  '',
  'Deliberate differences, normalised away (reasons in listener-diff.ts):',
  '',
  ...DELIBERATE.map((d) => `- ${d}`),
  '',
  ...(differences.length > 0 ? ['First differences:', '', '```', ...differences.slice(0, 5).map((d) => d.slice(0, 4000)), '```', ''] : []),
]
writeFileSync(out, lines.join('\n'))
console.log(lines.slice(5, 8).join('\n'))
console.log(`written to ${out}`)
process.exit(differences.length > 0 ? 1 : 0)
