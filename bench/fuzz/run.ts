/**
 * `npm run fuzz`: the fuzzing campaign from the command line (see campaign.ts). Prints a summary table and
 * writes it, with the date, versions and seed, to bench/FUZZ.md. Exit code 1 when an oracle failed.
 *
 *   npm run fuzz -- --requests 1000000 --seed 1 --connections 256
 *   npm run fuzz -- --listener node            # LB_HTTP1_SERVER=node
 *   npm run fuzz -- --show 1234 --seed 1       # the raw bytes of connection 1234 of that run
 *   npm run fuzz -- --only 1234 --repeat 50    # replay connection 1234 (same bytes, same splits) 50 times
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { runCampaign, showConnection, type CampaignResult } from './campaign.js'

const USAGE = `usage: npm run fuzz -- [--requests N] [--seed S] [--connections C] [--listener own|node]
                     [--hang-ms MS] [--out FILE|-] [--show CONN_ID] [--only ID,ID [--repeat N]]`

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '1' },
    connections: { type: 'string', default: '256' },
    listener: { type: 'string', default: 'own' },
    'hang-ms': { type: 'string', default: '5000' },
    out: { type: 'string', default: fileURLToPath(new URL('../FUZZ.md', import.meta.url)) },
    show: { type: 'string' },
    only: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
})
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
const int = (name: string, v: string): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name}: expected a positive integer, got ${JSON.stringify(v)}\n${USAGE}`)
    process.exit(2)
  }
  return n
}
if (values.listener !== 'own' && values.listener !== 'node') {
  console.error(`--listener: expected own or node, got ${JSON.stringify(values.listener)}\n${USAGE}`)
  process.exit(2)
}

if (values.show !== undefined) {
  const plan = showConnection(values.seed, int('show', values.show))
  for (const r of plan.requests) console.log(`# ${r.marker} ${r.expect} ${r.mutation}\n${JSON.stringify(r.bytes.toString('latin1'))}`)
  if (plan.tail.length > 0) console.log(`# tail\n${JSON.stringify(plan.tail.toString('latin1'))}`)
  console.log(`# batches ${plan.batches.join(',')}, up to ${plan.maxPieces} pieces, pause chance ${plan.pauseChance.toFixed(2)}`)
  process.exit(0)
}

const started = Date.now()
const result = await runCampaign({
  requests: int('requests', values.requests),
  seed: values.seed,
  connections: int('connections', values.connections),
  listener: values.listener,
  hangMs: int('hang-ms', values['hang-ms']),
  only: values.only?.split(',').map((x) => int('only', x)),
  repeat: int('repeat', values.repeat),
  onProgress: (s, ms) => {
    const rate = Math.round((s.sent / ms) * 1000)
    process.stderr.write(`fuzz: ${s.sent} sent, ${s.forwarded} forwarded, ${rate} req/s, findings ${JSON.stringify(s.findings)}\n`)
  },
})
const table = formatReport(result)
console.log(table)
if (values.out !== '-') {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
  } catch {
    // not a git checkout
  }
  const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  const doc = `# Fuzzing campaign: last run

Written by \`npm run fuzz\` (bench/fuzz/run.ts); see bench/README.md for what it checks and how to reproduce a
finding (\`npm run fuzz -- --show CONN --seed SEED\`).

- Date: ${new Date(started).toISOString()}
- lb ${version} at ${commit}, Node ${process.version}, ${process.platform}/${process.arch}
- Command: \`npm run fuzz -- --requests ${result.options.requests} --seed ${result.options.seed} --connections ${result.options.connections} --listener ${result.options.listener} --hang-ms ${result.options.hangMs}\`

${table}
`
  writeFileSync(values.out, doc)
  console.log(`written to ${values.out}`)
}
process.exit(result.failures > 0 ? 1 : 0)

/** The summary table and the findings, as Markdown. */
function formatReport(r: CampaignResult): string {
  const s = r.stats
  const rejected = Object.entries(s.rejected).sort().map(([k, v]) => `${k}: ${v}`).join(', ') || '0'
  const rows: Array<[string, string]> = [
    ['requests sent', String(s.sent)],
    ['of which warm-up (before the RSS baseline)', `${result.options.warmupRequests} (RSS read ${result.options.settleMs / 1000} s idle after it and after the run)`],
    ['connections', String(s.connections)],
    ['answered', String(s.answered)],
    ['forwarded (backends saw complete)', String(s.forwarded)],
    ['rejected, by status', rejected],
    ['invalid requests refused', String(s.invalidRefused)],
    ['lenient forms forwarded / refused', `${s.lenientForwarded} / ${s.lenientRefused}`],
    ['valid requests refused', String(s.validRefused)],
    ['no route (404)', String(s.noroute404)],
    ['closed by the server after an answer', String(s.serverClosed)],
    ['crashes (worker restarts)', String(r.crashes)],
    ['desyncs', String(r.desyncs)],
    ['hangs', String(r.hangs)],
    ['all oracle failures', String(r.failures)],
    ['max event-loop delay (ms wall, workers)', r.workers.map((w) => `${w.pid}: ${w.eventLoopMaxMs.toFixed(1)} (p99 ${w.eventLoopP99MaxMs.toFixed(1)})`).join(', ')],
    [`longest busy stretch (ms CPU of the ${r.workers[0]?.cpuSource ?? 'unknown'}, workers)`, r.workers.map((w) => `${w.pid}: ${w.busyMaxMs.toFixed(1)}`).join(', ')],
    ['RSS after warm-up -> end (MiB)', r.workers.map((w) => `${w.pid}: ${(w.rssStartKb / 1024).toFixed(1)} -> ${(w.rssEndKb / 1024).toFixed(1)} (${w.rssStartKb > 0 ? (((w.rssEndKb - w.rssStartKb) / w.rssStartKb) * 100).toFixed(1) : '?'} %)`).join(', ')],
    ['duration', `${(r.durationMs / 1000).toFixed(1)} s (${Math.round((s.sent / r.durationMs) * 1000)} req/s)`],
    ['balancer exit code on SIGTERM', String(r.exitCode)],
  ]
  let out = '| | |\n|---|---|\n' + rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n') + '\n'
  const kinds = Object.entries(s.findings).sort((a, b) => b[1] - a[1])
  out += '\n## Findings by kind\n\n'
  out += kinds.length === 0 ? 'None.\n' : kinds.map(([k, n]) => `- ${k}: ${n}`).join('\n') + '\n'
  if (r.examples.length > 0) {
    out += '\n## Examples (connection id: reproduce with `--show ID` and the same seed)\n\n'
    for (const f of r.examples) out += `- ${f.kind} conn ${f.conn}${f.marker ? ` ${f.marker}` : ''}${f.mutation ? ` [${f.mutation}]` : ''}: ${f.detail.replace(/\|/g, '\\|').slice(0, 300)}\n`
  }
  const refused = Object.entries(r.refusedByMutation).sort((a, b) => b[1] - a[1])
  if (refused.length > 0) {
    out += '\n## Well-formed or lenient requests refused (class:mutation:status)\n\n'
    out += refused.slice(0, 40).map(([k, n]) => `- ${k}: ${n}`).join('\n') + '\n'
  }
  return out
}
