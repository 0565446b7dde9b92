/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium): the request rate moves
 * while load runs, an endpoint turns unhealthy when its backend is killed, an endpoint is drained with
 * the token through the page, and screenshots at 1280x800 and 390x844 are taken (into a temp dir;
 * `npm run screenshots` writes them to docs/). Skipped, saying why, when /usr/bin/chromium is missing;
 * failed instead when CI=true.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAdminBalancer } from '../helpers/admin.js'
import { spawnBackendProcess, waitFor } from '../helpers/index.js'
import { skipOrFailMissingTool } from '../helpers/tools.js'

const CHROMIUM = process.env.LB_CHROMIUM ?? '/usr/bin/chromium'

test('dashboard: live rate, unhealthy endpoint, drain through the page, screenshots', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    skipOrFailMissingTool(t, `no browser at ${CHROMIUM}: install it with "apt-get install -y chromium" (or set LB_CHROMIUM) to run the dashboard test`)
    return
  }
  // Screenshots go to a temp dir (no test writes into the repository); `npm run screenshots` points
  // LB_SCREENSHOTS_DIR at docs/ to regenerate the pictures the README shows.
  let shots = process.env.LB_SCREENSHOTS_DIR
  if (shots === undefined || shots === '') {
    const dir = mkdtempSync(join(tmpdir(), 'lb-dashboard-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    shots = dir
  }
  const { chromium } = await import('playwright-core')
  const backends = await Promise.all(['alpha', 'beta', 'gamma'].map((n) => spawnBackendProcess(n)))
  t.after(() => Promise.all(backends.map((b) => b.stop())))
  const [alpha, beta, gamma] = backends as [typeof backends[0], typeof backends[0], typeof backends[0]]
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false },
    pools: {
      web: {
        algorithm: 'round-robin',
        backends: [
          { id: 'alpha', url: alpha.url },
          { id: 'beta', url: beta.url },
          { id: 'gamma', url: gamma.url, weight: 2 },
        ],
        healthCheck: { path: '/api/health', interval: '500ms', timeout: '300ms', unhealthyThreshold: 1, jitter: 0 },
      },
    },
  })
  t.after(() => lb.stop())

  // launch() gives the browser a fresh temporary profile (Playwright refuses --user-data-dir here).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  t.after(() => browser.close())

  // Load: a steady stream of requests (some slow, some errors) while the page watches.
  let loading = true
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  t.after(() => agent.destroy())
  const paths = ['/api/test', '/api/test', '/api/test', '/delay/40', '/delay/150', '/status/404', '/echo', '/api/test', '/api/test', '/status/500']
  const load = Promise.all(
    Array.from({ length: 6 }, async (_, w) => {
      for (let i = w; loading; i++) {
        await new Promise<void>((resolve) => {
          const req = http.get(`http://127.0.0.1:${lb.port}${paths[i % paths.length] ?? '/'}`, { agent }, (res) => {
            res.resume()
            res.on('end', resolve)
          })
          req.on('error', () => resolve())
        })
        await new Promise((r) => setTimeout(r, 15))
      }
    }),
  )
  t.after(async () => {
    loading = false
    await load
  })

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  await page.goto(lb.admin)
  await page.waitForSelector('tr[data-endpoint="alpha"]')
  const rate = async (): Promise<number> => Number(((await page.textContent('#rps')) ?? '0').replace(/,/g, ''))
  await waitFor(async () => (await rate()) > 5, { timeoutMs: 10_000, message: 'the request rate moves on the page' })
  const r1 = await rate()
  assert.ok(r1 > 5, `rate ${r1}`)
  await waitFor(async () => (await page.locator('#rate-chart').isVisible()) && (await page.textContent('#p99')) !== '–', { message: 'latency shown' })

  // Kill beta: its row turns unhealthy.
  await beta.kill('SIGKILL')
  await page.waitForSelector('tr[data-endpoint="beta"][data-state="unhealthy"]', { timeout: 5000 })

  // Drain alpha through the page: it asks for the token.
  await page.click('tr[data-endpoint="alpha"] button[data-action="drain"]')
  await page.waitForSelector('#token-dialog[open]')
  await page.fill('#token-input', lb.token)
  await page.click('#token-ok')
  await page.waitForSelector('tr[data-endpoint="alpha"][data-state="draining"]', { timeout: 5000 })
  const view = JSON.parse((await lb.call('GET', '/api/pools/web/backends/alpha', { token: null })).body) as { drained: boolean }
  assert.equal(view.drained, true)
  // The token is kept for the tab: re-weighting gamma does not ask again.
  await page.fill('tr[data-endpoint="gamma"] input', '5')
  await page.click('tr[data-endpoint="gamma"] button[data-action="weight"]')
  await waitFor(async () => (JSON.parse((await lb.call('GET', '/api/pools/web/backends/gamma', { token: null })).body) as { weight: number }).weight === 5, { message: 'gamma re-weighted' })
  assert.equal(await page.locator('#token-dialog[open]').count(), 0)

  // Let the charts fill a little, then take the screenshots.
  await page.selectOption('#range', '60')
  await new Promise((r) => setTimeout(r, 4000))
  await page.screenshot({ path: join(shots, 'dashboard-desktop.png') })
  const mobile = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true })
  await mobile.goto(lb.admin)
  await mobile.waitForSelector('tr[data-endpoint="alpha"][data-state="draining"]')
  await mobile.selectOption('#range', '60')
  await new Promise((r) => setTimeout(r, 1500))
  const overflow = await mobile.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)
  assert.ok(overflow <= 390, `no horizontal scrolling on a phone (scrollWidth ${overflow})`)
  await mobile.screenshot({ path: join(shots, 'dashboard-mobile.png') })
  for (const f of ['dashboard-desktop.png', 'dashboard-mobile.png']) assert.ok(statSync(join(shots, f)).size > 0, `${f} written`)
})
