/**
 * TLS towards `https://` backends: the CA bundle, client certificate (mTLS), server name and
 * verification of one pool, as undici connect options (proxied requests) and `tls.connect` options
 * (health probes), with the files reloaded when they change.
 *
 * Verification is on unless `verify: false` is written: against `ca` when given, else Node's system
 * CAs; the name checked (and sent in SNI) is `serverName`, else the backend url's host.
 *
 * Reload: the directories holding the files are watched (`fs.watch`), with a poll of their
 * mtime/size/inode as a fallback (editors that replace files, Kubernetes' symlink swaps). A change is
 * debounced, the files are read again (asynchronously) and checked by building a secure context; a set
 * that fails keeps the previous one (and is reported on stderr). New connections use the new set;
 * open keep-alive connections keep theirs.
 */
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { dirname } from 'node:path'
import type { ConnectionOptions } from 'node:tls'
import { buildConnector } from 'undici'
import { LbError, tlsMaterialProblem } from '../core/index.js'
import type { UpstreamTlsConfig } from '../config/index.js'


/** The PEM contents of the configured files. */
interface Material {
  ca?: Buffer | undefined
  cert?: Buffer | undefined
  key?: Buffer | undefined
}

/** Options of {@link UpstreamTls}. */
export interface UpstreamTlsOptions {
  /** Pool name, for messages. */
  pool: string
  /** undici connect timeout, ms. */
  connectTimeoutMs?: number | undefined
  /** Fallback poll of the files, ms (default 5000; 0 = none). */
  pollIntervalMs?: number | undefined
  /** Quiet period after a change before reloading, ms (default 200). */
  debounceMs?: number | undefined
  /** Told about every reload attempt (default: failures go to stderr). */
  onReload?: ((result: { ok: true } | { ok: false; error: Error }) => void) | undefined
}

const DEFAULT_CONFIG: UpstreamTlsConfig = { verify: true }

/** TLS settings of one pool's `https://` backends, reloaded from disk on change. */
export class UpstreamTls {
  private material: Material
  private connector: buildConnector.connector
  private readonly watchers: FSWatcher[] = []
  private pollTimer: NodeJS.Timeout | undefined
  private debounceTimer: NodeJS.Timeout | undefined
  private fingerprint: string
  private closed = false

  /**
   * Reads the files now (synchronously: this runs while a worker or the prober is built, never per
   * request). Throws `LbError('LB_ERR_CONFIG')` naming the field when a file is unreadable or invalid.
   */
  constructor(
    private readonly config: UpstreamTlsConfig = DEFAULT_CONFIG,
    private readonly options: UpstreamTlsOptions = { pool: '' },
  ) {
    this.material = this.readSync()
    this.connector = this.build(this.material)
    this.fingerprint = this.stamp()
    const files = this.files()
    if (files.length === 0) return
    const dirs = new Set(files.map(([, path]) => dirname(path)))
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.changed())
        w.on('error', () => undefined) // the poll still notices changes
        this.watchers.push(w)
      } catch {
        // Watching is best effort; the poll covers it.
      }
    }
    const poll = options.pollIntervalMs ?? 5000
    if (poll > 0) {
      this.pollTimer = setInterval(() => {
        if (this.stamp() !== this.fingerprint) this.changed()
      }, poll)
      this.pollTimer.unref()
    }
  }

  /**
   * The undici `connect` function for an `https://` endpoint (reads the current set at each new connection).
   * The TLS name is `serverName`, else the url's host (none for an IP): undici would otherwise take it from
   * the request's Host header, which the client chose, for both SNI and the certificate check.
   */
  readonly connect: buildConnector.connector = (opts, callback) => {
    const host = opts.hostname.replace(/^\[(.*)\]$/, '$1')
    this.connectNamed(opts, this.config.serverName ?? (isIpLiteral(host) ? undefined : host), callback)
  }

  private connectNamed(opts: buildConnector.Options, servername: string | undefined, callback: buildConnector.Callback): void {
    // An empty name (not undefined) stops undici falling back to the Host header; none is sent for an IP.
    this.connector({ ...opts, servername: servername ?? '' }, (...args) => {
      if (args[1] != null) args[1].on('error', keepTlsAlert)
      callback(...args)
    })
  }

  /**
   * The undici `connect` function for an endpoint whose TLS name is not its url's host (a DNS-discovered
   * address): `name` is used where undici would have taken the host.
   */
  connectAs(name: string): buildConnector.connector {
    // undici passes '' or null when it has no name (an IP in the Host header): fall through then.
    return (opts, callback) => this.connectNamed(opts, this.config.serverName ?? name, callback)
  }

  /** `tls.connect` / `https.request` options for a probe of `url` (current set); `name`: see {@link connectAs}. */
  connectionOptions(url: URL, name?: string): ConnectionOptions {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    return { ...this.tlsOptions(this.material), servername: this.config.serverName ?? name ?? (isIpLiteral(host) ? undefined : host) }
  }

  /** Reloads the files now (what a change triggers). Resolves false when the new set was rejected. */
  async reload(): Promise<boolean> {
    try {
      const next: Material = {}
      for (const [field, path] of this.files()) next[field] = await readFile(path)
      const problem = tlsMaterialProblem(next)
      if (problem !== undefined) throw new Error(problem)
      if (this.closed) return true
      this.material = next
      this.connector = this.build(next)
      this.options.onReload?.({ ok: true })
      return true
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      if (this.options.onReload !== undefined) this.options.onReload({ ok: false, error })
      else process.stderr.write(`lb: pools.${this.options.pool}.upstreamTls: reload rejected, the previous certificates stay: ${error.message}\n`)
      return false
    }
  }

  /** Stops watching. */
  close(): void {
    this.closed = true
    clearInterval(this.pollTimer)
    clearTimeout(this.debounceTimer)
    for (const w of this.watchers) w.close()
  }

  private changed(): void {
    if (this.closed) return
    clearTimeout(this.debounceTimer)
    this.debounceTimer = setTimeout(() => {
      this.fingerprint = this.stamp()
      void this.reload()
    }, this.options.debounceMs ?? 200)
    this.debounceTimer.unref()
  }

  private files(): Array<['ca' | 'cert' | 'key', string]> {
    const out: Array<['ca' | 'cert' | 'key', string]> = []
    if (this.config.ca !== undefined) out.push(['ca', this.config.ca])
    if (this.config.cert !== undefined) out.push(['cert', this.config.cert])
    if (this.config.key !== undefined) out.push(['key', this.config.key])
    return out
  }

  private readSync(): Material {
    const m: Material = {}
    for (const [field, path] of this.files()) {
      try {
        m[field] = readFileSync(path)
      } catch (err) {
        throw new LbError('LB_ERR_CONFIG', `pools.${this.options.pool}.upstreamTls.${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err })
      }
    }
    const problem = tlsMaterialProblem(m)
    if (problem !== undefined) throw new LbError('LB_ERR_CONFIG', `pools.${this.options.pool}.upstreamTls: ${problem}`)
    return m
  }

  private tlsOptions(m: Material): ConnectionOptions {
    const o: ConnectionOptions = { rejectUnauthorized: this.config.verify }
    if (m.ca !== undefined) o.ca = m.ca
    if (m.cert !== undefined) o.cert = m.cert
    if (m.key !== undefined) o.key = m.key
    return o
  }

  private build(m: Material): buildConnector.connector {
    const o: buildConnector.BuildOptions = { ...this.tlsOptions(m), timeout: this.options.connectTimeoutMs ?? 3000 }
    // undici sends the url's host name in SNI (none for an IP literal) unless told otherwise.
    if (this.config.serverName !== undefined) o.servername = this.config.serverName
    return buildConnector(o)
  }

  /** mtime/size/inode of every file: the poll compares these. */
  private stamp(): string {
    let s = ''
    for (const [, path] of this.files()) {
      try {
        const st = statSync(path)
        s += `${st.mtimeMs}:${st.size}:${st.ino};`
      } catch {
        s += 'missing;'
      }
    }
    return s
  }
}

/**
 * A TLS 1.3 server refuses a client certificate with an alert after the client's handshake is done,
 * so undici sees it as an error on an open socket, immediately followed by the end of the stream, and
 * reports the end ("other side closed"). Destroying the socket at the alert (this listener runs before
 * undici's) keeps the alert as the request's error, so it is reported as a TLS failure.
 */
function keepTlsAlert(this: Socket, err: Error): void {
  if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_SSL_') === true) this.destroy()
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}
