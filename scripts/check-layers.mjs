#!/usr/bin/env node
// Checks the import graph of src/**/*.ts (tests and conformance suites excluded) against the layering in
// STYLE.md section 2, and prints one line per problem as `file:line: message`; exit 1 when there is any.
//   (a) no import cycle between modules (type-only imports included: a cycle of types is still a knot);
//   (b) no import that runs up the layers;
//   (c) from outside a folder that has an index.ts, import through that index.ts.
// Usage: node scripts/check-layers.mjs [root]   (root defaults to the repository; its src/ is read)
// The imports are read with TypeScript's own pre-processor, so comments and strings never count.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/**
 * Layers, lowest first; a module may import from its own layer and below. Keys are the first path segment
 * under src/ (a folder, or a top-level file without its extension).
 * - demo/ (sample backends) needs only core/, so it sits with the leaf layers.
 * - wire/ (raw error responses, which connections close) is shared by proxy/ and server/, so it sits below both.
 * - loadtest/ drives a balancer from outside; it sits beside cluster/ and admin/, below the composition
 *   root, which hands it the balancer to start (it must never import app.ts).
 * - worker.ts and cli.ts are process entry points above app.ts.
 */
export const LAYERS = [
  ['core'],
  ['config', 'state', 'balancer', 'observability', 'demo', 'wire'],
  ['upstream', 'ratelimit'],
  ['proxy'],
  ['server'],
  ['cluster', 'admin', 'loadtest'],
  ['app'],
  ['cli', 'worker'],
]

const SOURCE = /\.ts$/
const EXCLUDED = /\.(test|suite)\.ts$|\.d\.ts$/

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (SOURCE.test(name) && !EXCLUDED.test(name)) out.push(p)
  }
  return out
}

/** `a/b/c.ts` relative to src -> its layer key (`a`, or `app` for `app.ts`). */
function layerKey(relPath) {
  const first = relPath.split(sep)[0]
  return first.endsWith('.ts') ? first.slice(0, -3) : first
}

function layerOf(relPath, layers) {
  const key = layerKey(relPath)
  const i = layers.findIndex((l) => l.includes(key))
  return i === -1 ? undefined : i
}

/** Maps a relative specifier (`./x.js`, `../y/index.js`) to the .ts file it names, or undefined. */
function resolveSpecifier(fromFile, spec) {
  if (!spec.startsWith('.')) return undefined
  const base = resolve(dirname(fromFile), spec)
  const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')]
  return candidates.find((c) => existsSync(c) && statSync(c).isFile())
}

function lineOf(text, pos) {
  let line = 1
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

/**
 * Reads src/ under `root` and returns every problem as `{ file, line, message }` (file relative to root),
 * sorted by file and line.
 */
export function checkLayers(root, layers = LAYERS) {
  const src = join(root, 'src')
  const files = walk(src, []).sort()
  const problems = []
  /** file -> [{ target, line }] */
  const graph = new Map()
  const rel = (f) => relative(root, f).split(sep).join('/')

  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    const info = ts.preProcessFile(text, true, true)
    const edges = []
    const fromRel = relative(src, file)
    const fromLayer = layerOf(fromRel, layers)
    if (fromLayer === undefined) problems.push({ file: rel(file), line: 1, message: `"${layerKey(fromRel)}" is in no layer; add it to LAYERS in scripts/check-layers.mjs` })
    for (const ref of info.importedFiles) {
      const target = resolveSpecifier(file, ref.fileName)
      if (target === undefined) {
        if (ref.fileName.startsWith('.')) problems.push({ file: rel(file), line: lineOf(text, ref.pos), message: `import "${ref.fileName}" names no file` })
        continue
      }
      if (EXCLUDED.test(target)) continue
      const line = lineOf(text, ref.pos)
      edges.push({ target, line })
      const toRel = relative(src, target)
      const toLayer = layerOf(toRel, layers)
      if (fromLayer !== undefined && toLayer !== undefined && toLayer > fromLayer) {
        problems.push({ file: rel(file), line, message: `imports up the layers: ${layerKey(fromRel)} (layer ${fromLayer}) -> ${layerKey(toRel)} (layer ${toLayer}) via "${ref.fileName}"` })
      }
      // (c) every folder between the importer and the target that the import enters from outside must be
      // entered through its index.ts.
      const targetDir = dirname(target)
      if (!file.startsWith(targetDir + sep) && target !== join(targetDir, 'index.ts')) {
        // The outermost folder the import enters: walk up from the target while the importer is outside.
        let entered = targetDir
        while (dirname(entered) !== entered && !file.startsWith(dirname(entered) + sep)) entered = dirname(entered)
        if (existsSync(join(targetDir, 'index.ts'))) {
          problems.push({ file: rel(file), line, message: `bypasses ${rel(join(targetDir, 'index.ts'))}: import "${ref.fileName}" from outside ${rel(targetDir)}/ should go through its index.ts` })
        } else if (entered !== targetDir && existsSync(join(entered, 'index.ts'))) {
          problems.push({ file: rel(file), line, message: `bypasses ${rel(join(entered, 'index.ts'))}: import "${ref.fileName}" from outside ${rel(entered)}/ should go through its index.ts` })
        }
      }
    }
    graph.set(file, edges)
  }

  // (a) cycles: Tarjan's strongly connected components; each component of more than one module (or a
  // module importing itself) is one cycle problem, reported on the first edge that stays inside it.
  let index = 0
  const stack = []
  const onStack = new Set()
  const idx = new Map()
  const low = new Map()
  const components = []
  const strong = (v) => {
    idx.set(v, index)
    low.set(v, index)
    index++
    stack.push(v)
    onStack.add(v)
    for (const { target: w } of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!idx.has(w)) {
        strong(w)
        low.set(v, Math.min(low.get(v), low.get(w)))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)))
    }
    if (low.get(v) === idx.get(v)) {
      const comp = []
      let w
      do {
        w = stack.pop()
        onStack.delete(w)
        comp.push(w)
      } while (w !== v)
      components.push(comp)
    }
  }
  for (const v of graph.keys()) if (!idx.has(v)) strong(v)
  for (const comp of components) {
    const members = new Set(comp)
    const selfLoop = comp.length === 1 && (graph.get(comp[0]) ?? []).some((e) => e.target === comp[0])
    if (comp.length < 2 && !selfLoop) continue
    const sorted = [...comp].sort()
    const first = sorted[0]
    const edge = (graph.get(first) ?? []).find((e) => members.has(e.target))
    problems.push({ file: rel(first), line: edge?.line ?? 1, message: `import cycle: ${sorted.map(rel).join(' <-> ')}` })
  }

  return problems.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1))
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
  const problems = checkLayers(root)
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.message}`)
  if (problems.length > 0) {
    console.error(`check-layers: ${problems.length} problem(s); layers, lowest first: ${LAYERS.map((l) => l.join(', ')).join(' | ')}`)
    process.exit(1)
  }
  console.log('check-layers: no cycle, no upward import, every folder entered through its index.ts')
}
