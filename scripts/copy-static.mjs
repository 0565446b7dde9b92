#!/usr/bin/env node
// Copies every `static/` folder under src/ (files that are not TypeScript: the dashboard's CSS and browser
// JavaScript) to the same place under dist/. Runs after `tsc` in `npm run build`; tsc copies only .ts output.
import { cpSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const src = join(root, 'src')
const dist = join(root, 'dist')

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (!statSync(p).isDirectory()) continue
    if (name === 'static') {
      cpSync(p, join(dist, relative(src, p)), { recursive: true })
      console.log(`copied ${relative(root, p)} -> ${relative(root, join(dist, relative(src, p)))}`)
    } else walk(p)
  }
}
walk(src)
