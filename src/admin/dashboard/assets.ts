/**
 * Serves the dashboard: the page (`/`, `/index.html`) and its two static files (`/dashboard.css`,
 * `/dashboard.js`, read from `static/` beside this module; the build copies them into dist/).
 *
 * Caching: every answer carries a strong `ETag` (a hash of the bytes) and honours `If-None-Match` with 304.
 * The page is `Cache-Control: no-cache` (revalidated each time, so a new version shows at once); it links
 * the files with their hash in the query (`?v=`), and a file asked for with its current hash is cacheable
 * for a year (`immutable`). `private`: the admin server may ask for credentials.
 * The files are read once, on the first dashboard request (never at import, never per request).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dashboardHtml } from './page.js'

/** No inline script or style: everything the page runs or applies comes from the admin server itself. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"

const REVALIDATE = 'private, no-cache'
const FOREVER = 'private, max-age=31536000, immutable'

interface Asset {
  readonly body: Buffer
  readonly type: string
  /** Content hash (base64url, 16 characters): the `?v=` value and, quoted, the ETag. */
  readonly version: string
}

let assets: ReadonlyMap<string, Asset> | undefined

function asset(body: Buffer, type: string): Asset {
  return { body, type, version: createHash('sha256').update(body).digest('base64url').slice(0, 16) }
}

function loadAssets(): ReadonlyMap<string, Asset> {
  const read = (name: string): Buffer => readFileSync(new URL(`./static/${name}`, import.meta.url))
  const css = asset(read('dashboard.css'), 'text/css; charset=utf-8')
  const js = asset(read('dashboard.js'), 'text/javascript; charset=utf-8')
  const page = asset(Buffer.from(dashboardHtml({ css: css.version, js: js.version })), 'text/html; charset=utf-8')
  return new Map([['/', page], ['/index.html', page], ['/dashboard.css', css], ['/dashboard.js', js]])
}

const PATHS = new Set(['/', '/index.html', '/dashboard.css', '/dashboard.js'])

/** True for the paths {@link serveDashboard} answers. */
export function isDashboardPath(path: string): boolean {
  return PATHS.has(path)
}

/** True when an `If-None-Match` header names `etag` (or `*`); weak validators compare equal (RFC 9110 13.1.2). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  for (const raw of ifNoneMatch.split(',')) {
    const tag = raw.trim()
    if (tag === '*' || tag === etag || tag === `W/${etag}`) return true
  }
  return false
}

/**
 * Answers a GET or HEAD for a dashboard path (see {@link isDashboardPath}): 200 with the bytes, or 304
 * when the client's copy is current. Throws when the static files are missing (a broken install), which the
 * admin server answers with 500.
 */
export function serveDashboard(req: IncomingMessage, res: ServerResponse, url: URL): void {
  assets ??= loadAssets()
  const a = assets.get(url.pathname)
  if (a === undefined) throw new Error(`not a dashboard path: ${url.pathname}`)
  const etag = `"${a.version}"`
  const isPage = a.type.startsWith('text/html')
  const headers: Record<string, string> = {
    etag,
    'cache-control': !isPage && url.searchParams.get('v') === a.version ? FOREVER : REVALIDATE,
    'x-content-type-options': 'nosniff',
  }
  if (isPage) headers['content-security-policy'] = CONTENT_SECURITY_POLICY
  if (matches(req.headers['if-none-match'], etag)) {
    res.writeHead(304, headers)
    res.end()
    return
  }
  res.writeHead(200, { ...headers, 'content-type': a.type, 'content-length': String(a.body.length) })
  res.end(req.method === 'HEAD' ? undefined : a.body)
}
