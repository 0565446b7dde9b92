/**
 * A copy of what a production install holds (`npm ci --omit=dev`, the Docker image's runtime stage), built
 * in a temp dir from this checkout: tests run the real CLI there to see what users of such an install see.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { REPO_ROOT } from './balancer-process.js'

/**
 * Fills `dir/node_modules` with exactly the packages package-lock.json does not mark `dev`, linked from
 * this checkout's node_modules (top-level entries only: nested node_modules come along inside their
 * parent). Module resolution from files copied into `dir` then finds only what production has.
 */
export function linkProductionModules(dir: string): void {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  mkdirSync(join(dir, 'node_modules'), { recursive: true })
  for (const [path, entry] of Object.entries(lock.packages)) {
    const name = path.startsWith('node_modules/') ? path.slice('node_modules/'.length) : ''
    if (name === '' || name.includes('/node_modules/') || entry.dev === true) continue
    if (name.includes('/')) mkdirSync(join(dir, 'node_modules', dirname(name)), { recursive: true })
    symlinkSync(join(REPO_ROOT, 'node_modules', name), join(dir, 'node_modules', name), 'dir')
  }
}

/**
 * A temp dir holding the built `dist/`, package.json and the production node_modules; removed in
 * `t.after`. `dist/` is copied, not linked, so that resolution starts inside the temp dir.
 */
export function productionInstall(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-prod-install-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(REPO_ROOT, 'dist'), join(dir, 'dist'), { recursive: true })
  cpSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'))
  linkProductionModules(dir)
  return dir
}
