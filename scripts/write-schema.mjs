#!/usr/bin/env node
// Writes lb.config.schema.json (the JSON schema of lb.config.yaml/.json) from the compiled zod schema.
// Runs after `tsc` in `npm run build`; writes only when the content changed, so the checked-in file
// stays untouched (and its mtime too) when nothing moved.
import { readFileSync, writeFileSync } from 'node:fs'

const root = new URL('..', import.meta.url)
const target = new URL('lb.config.schema.json', root)
const { configJsonSchema } = await import(new URL('dist/config/json-schema.js', root).href)
const next = `${JSON.stringify(configJsonSchema(), null, 2)}\n`
let current = ''
try {
  current = readFileSync(target, 'utf8')
} catch {
  // first run: no file yet
}
if (current === next) {
  console.log('lb.config.schema.json: unchanged')
} else {
  writeFileSync(target, next)
  console.log('lb.config.schema.json: written')
}
