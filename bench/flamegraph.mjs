// A flame graph (SVG) from V8 CPU profiles, the `.cpuprofile` files that `lb start --profile DIR` makes
// each worker write: every worker's profile of DIR is merged, the (idle) time left out, so a frame's width
// is its share of the time the workers were busy.
//
//   node bench/flamegraph.mjs DIR [--out FILE.svg] [--title TEXT] [--min 0.002]
//
// Frames: the balancer's own code (dist/) blue, packages (node_modules/: undici, prom-client, pino) green,
// Node's internals (node:) orange, V8 and the GC (program, garbage collector) grey. Hover a frame for its
// function, file and share. Writes the SVG (default DIR/flamegraph.svg) and prints the top self-time frames.
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: 'string' }, title: { type: 'string' }, min: { type: 'string', default: '0.002' }, help: { type: 'boolean', short: 'h' } },
})
if (values.help || positionals.length !== 1) {
  console.log('Usage: node bench/flamegraph.mjs DIR [--out FILE.svg] [--title TEXT] [--min FRACTION]')
  process.exit(values.help ? 0 : 2)
}
const dir = positionals[0]
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f))
if (files.length === 0) {
  console.error(`flamegraph: no .cpuprofile in ${dir}`)
  process.exit(1)
}

/** A frame's label: function name and where it is (file relative to the repository or package). */
function labelOf(cf) {
  const fn = cf.functionName || '(anonymous)'
  if (!cf.url) return fn
  let where = cf.url.replace(/^file:\/\//, '')
  const nm = where.lastIndexOf('/node_modules/')
  if (nm >= 0) where = where.slice(nm + 14)
  else if (where.includes('/dist/')) where = where.slice(where.indexOf('/dist/') + 1)
  return `${fn} ${where}:${cf.lineNumber + 1}`
}

function kindOf(cf) {
  const url = cf.url ?? ''
  if (url.includes('/node_modules/')) return 'package'
  if (url.includes('/dist/')) return 'own'
  if (url.startsWith('node:') || (url === '' && cf.functionName && !cf.functionName.startsWith('('))) return 'node'
  return 'v8'
}

/** Merged call tree: { name, kind, self, total, children: Map }; times in microseconds. */
const root = { name: 'all workers', kind: 'v8', self: 0, total: 0, children: new Map() }
let idleUs = 0
for (const file of files) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'))
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map()
  for (let i = 0; i < prof.samples.length; i++) selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i + 1] ?? prof.timeDeltas[i] ?? 0))
  for (const [id, us] of selfUs) {
    const stack = []
    for (let n = byId.get(id); n !== undefined; n = byId.get(parent.get(n.id))) stack.push(n.callFrame)
    stack.reverse()
    if (stack.some((cf) => cf.functionName === '(idle)')) {
      idleUs += us
      continue
    }
    let node = root
    node.total += us
    for (const cf of stack.slice(1)) {
      const name = labelOf(cf)
      let child = node.children.get(name)
      if (child === undefined) {
        child = { name, kind: kindOf(cf), self: 0, total: 0, children: new Map() }
        node.children.set(name, child)
      }
      child.total += us
      node = child
    }
    node.self += us
  }
}

const W = 1400
const ROW = 17
const minFrac = Number(values.min)
const colors = { own: ['#4e79a7', '#6b93c2'], package: ['#59a14f', '#7cbf72'], node: ['#f28e2b', '#f5a85c'], v8: ['#9c9c9c', '#b8b8b8'] }
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const rects = []
let maxDepth = 0
function draw(node, x, depth) {
  const width = (node.total / root.total) * W
  if (node.total / root.total < minFrac) return
  maxDepth = Math.max(maxDepth, depth)
  const [c1, c2] = colors[node.kind]
  const pct = ((node.total / root.total) * 100).toFixed(1)
  const text = width > 40 ? esc(node.name.slice(0, Math.floor(width / 6.2))) : ''
  rects.push({ depth, svg: (y) => `<g><title>${esc(node.name)}: ${pct} % (self ${((node.self / root.total) * 100).toFixed(1)} %)</title><rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(0.5, width - 0.5).toFixed(1)}" height="${ROW - 1}" fill="${depth % 2 ? c1 : c2}"/>${text ? `<text x="${(x + 3).toFixed(1)}" y="${y + 12}">${text}</text>` : ''}</g>` })
  let cx = x
  for (const child of [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    draw(child, cx, depth + 1)
    cx += (child.total / root.total) * W
  }
}
draw(root, 0, 0)
const top = 40
const H = top + (maxDepth + 1) * ROW + 10
const title = values.title ?? `CPU of ${files.length} worker profile(s) in ${dir}`
const busyS = root.total / 1e6
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="monospace" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="4" y="16" font-size="14" font-family="sans-serif">${esc(title)}</text>
<text x="4" y="32" font-family="sans-serif">busy ${busyS.toFixed(2)} s of CPU (idle ${(idleUs / 1e6).toFixed(2)} s left out); width = share of busy time; blue: balancer, green: packages, orange: Node internals, grey: V8 and GC</text>
${rects.map((r) => r.svg(top + (maxDepth - r.depth) * ROW)).join('\n')}
</svg>
`
const out = values.out ?? path.join(dir, 'flamegraph.svg')
fs.writeFileSync(out, svg)

// Top frames by self time, so the SVG's story is also in text.
const self = new Map()
const walk = (n) => {
  if (n !== root) self.set(n.name, (self.get(n.name) ?? 0) + n.self)
  for (const c of n.children.values()) walk(c)
}
walk(root)
console.log(`flamegraph: ${out} (${files.length} profiles, busy ${busyS.toFixed(2)} s)`)
// Self time by kind; the socket writes apart: a sampling profiler charges them the whole system call
// (on loopback the kernel runs the receiving side's TCP there too) and any time the thread waited for a
// CPU inside it, so on a busy machine they say more about the machine than about the code.
const WRITES = /^(writeLatin1String|writeUtf8String|writeBuffer|writev|writeAsciiString)$/
const byKind = { writes: 0, own: 0, package: 0, node: 0, v8: 0 }
const walkKind = (n) => {
  if (n !== root) byKind[WRITES.test(n.name) ? 'writes' : n.kind] += n.self
  for (const c of n.children.values()) walkKind(c)
}
walkKind(root)
console.log(Object.entries(byKind).map(([k, us]) => `${k} ${((us / root.total) * 100).toFixed(1)} %`).join(', '))
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${((us / root.total) * 100).toFixed(1).padStart(5)} %  ${name}`)
