#!/usr/bin/env node
// Regenerates docs/dashboard-desktop.png and docs/dashboard-mobile.png: runs the dashboard browser test
// with its screenshots pointed at docs/ (the test alone writes them to a temp dir). Needs Chromium
// (/usr/bin/chromium or LB_CHROMIUM); without it this fails instead of skipping. `npm run screenshots`
// builds first.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const env = { ...process.env, LB_SCREENSHOTS_DIR: fileURLToPath(new URL('../docs', import.meta.url)), LB_REQUIRE_TOOLS: '1' }
const child = spawn(process.execPath, ['scripts/run-tests.mjs', 'test/integration/dashboard.test.ts'], { cwd: root, stdio: 'inherit', env })
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
