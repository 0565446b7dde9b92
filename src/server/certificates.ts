/**
 * TLS certificates chosen by SNI and reloaded from disk without a restart.
 *
 * One `SecureContext` is built per configured certificate. Names come from `serverNames` (exact
 * `api.example.com` or one-label wildcards `*.example.com`), or, when that list is empty, from the
 * certificate's own subjectAltName DNS entries. The first certificate is the default: it answers an
 * unknown name and a handshake without SNI.
 *
 * Reload: the directories holding the files are watched (`fs.watch`) and the files' mtime/size/inode are
 * also polled as a fallback (network file systems, editors that replace files, Kubernetes' symlink
 * swaps); changes are debounced, then every context is rebuilt and swapped in at once. New handshakes
 * use the new set; open connections keep theirs (a context is only read during a handshake). A set that
 * fails to build (bad PEM, key that does not match its certificate, unreadable file) is rejected whole:
 * the previous set stays and the error is reported, never thrown into the worker.
 */
import { X509Certificate } from 'node:crypto'
import { statSync, readFileSync, watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls'
import { LbError } from '../core/index.js'
import type { TlsConfig } from '../config/index.js'

/** One configured certificate: `cert` and `key` are PEM file paths or inline PEM. */
export type CertificateEntry = TlsConfig['certificates'][number]

/**
 * TLS 1.2 suites allowed by default: ECDHE key exchange with AEAD ciphers only (AES-GCM,
 * ChaCha20-Poly1305), in Mozilla's "intermediate" order. TLS 1.3 suites are all AEAD and listed too
 * (a cipher string without them would disable TLS 1.3 in Node).
 */
export const DEFAULT_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/** What a reload did: `ok` with the names now served, or the error that kept the previous set. */
export type CertificateReloadEvent =
  | { ok: true; reason: 'initial' | 'change' | 'manual'; names: string[] }
  | { ok: false; reason: 'change' | 'manual'; error: Error }

/** Options of {@link CertificateStore}. */
export interface CertificateStoreOptions {
  /** Lowest TLS version (default `TLSv1.2`). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** OpenSSL cipher string (default {@link DEFAULT_CIPHERS}). */
  ciphers?: string
  /** Watch the files and reload on change (default true). */
  watch?: boolean
  /** Fallback poll of the files' mtime/size/inode, ms (default 5000; 0 = no polling). */
  pollIntervalMs?: number
  /** Quiet period after a change before rebuilding, ms (default 200): a cert and key written one after the other reload once. */
  debounceMs?: number
  /** Told about every reload and every rejected one (default: rejected ones are written to stderr). */
  onReload?: (event: CertificateReloadEvent) => void
  /** Called with a handshake's servername when the SNI path threw (the default context was served). */
  onSniError?: (error: unknown, servername: string) => void
}

/** One built set: contexts in configuration order plus the name index. */
interface ContextSet {
  readonly contexts: readonly SecureContext[]
  /** Secure-context options of the default (first) certificate, for `server.setSecureContext`. */
  readonly defaultOptions: SecureContextOptions
  /** Lower-case exact name -> index. */
  readonly exact: ReadonlyMap<string, number>
  /** Lower-case wildcard suffix (`.example.com`) -> index. */
  readonly wildcard: ReadonlyMap<string, number>
  readonly names: string[]
}

/**
 * The certificates of one TLS listener. Construct with {@link CertificateStore.load} (throws on a bad
 * initial set: configuration errors stop the start), hand {@link sniCallback} and
 * {@link defaultSecureOptions} to the server, then {@link attach} the server so that a reload also
 * replaces its default context. {@link close} stops watching.
 */
export class CertificateStore {
  private current: ContextSet
  private entries: readonly CertificateEntry[]
  private readonly options: Required<Omit<CertificateStoreOptions, 'onReload' | 'onSniError'>> & Pick<CertificateStoreOptions, 'onReload' | 'onSniError'>
  private readonly servers = new Set<{ setSecureContext(o: SecureContextOptions): void; getTicketKeys(): Buffer; setTicketKeys(k: Buffer): void }>()
  private watchers: FSWatcher[] = []
  private pollTimer: NodeJS.Timeout | undefined
  private debounceTimer: NodeJS.Timeout | undefined
  private stamps = new Map<string, string>()
  private closed = false

  private constructor(entries: readonly CertificateEntry[], options: CertificateStoreOptions) {
    this.options = {
      minVersion: options.minVersion ?? 'TLSv1.2',
      ciphers: options.ciphers ?? DEFAULT_CIPHERS,
      watch: options.watch ?? true,
      pollIntervalMs: options.pollIntervalMs ?? 5000,
      debounceMs: options.debounceMs ?? 200,
      onReload: options.onReload,
      onSniError: options.onSniError,
    }
    this.entries = entries
    this.current = this.build(entries)
    this.stamps = this.stampAll(entries)
  }

  /**
   * Builds the contexts for `entries` and starts watching their files. Throws an `LB_ERR_CONFIG`
   * LbError naming the failing entry when a certificate cannot be loaded.
   */
  static load(entries: readonly CertificateEntry[], options: CertificateStoreOptions = {}): CertificateStore {
    const store = new CertificateStore(entries, options)
    store.options.onReload?.({ ok: true, reason: 'initial', names: store.current.names })
    if (store.options.watch) store.startWatching()
    return store
  }

  /** Secure-context options of the default certificate (cert, key, versions, ciphers) for the server constructor. */
  get defaultSecureOptions(): SecureContextOptions {
    return this.current.defaultOptions
  }

  /** The names served, for logs (`*.example.com`, `a.test`, ... in configuration order). */
  get names(): readonly string[] {
    return this.current.names
  }

  /**
   * The context for a handshake's server name: exact match, then a one-label wildcard, else the default.
   * Never throws for an unknown or empty name.
   */
  contextFor(servername: string | undefined): SecureContext {
    const set = this.current
    const fallback = set.contexts[0] as SecureContext
    if (servername === undefined || servername === '') return fallback
    const name = servername.toLowerCase().replace(/\.$/, '')
    const exact = set.exact.get(name)
    if (exact !== undefined) return set.contexts[exact] ?? fallback
    const dot = name.indexOf('.')
    if (dot > 0) {
      const wild = set.wildcard.get(name.slice(dot))
      if (wild !== undefined) return set.contexts[wild] ?? fallback
    }
    return fallback
  }

  /**
   * The `SNICallback` for `tls.createServer` / `http2.createSecureServer`. Any exception in the lookup is
   * caught and reported; the handshake then gets the default certificate.
   */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    let ctx: SecureContext
    try {
      ctx = this.contextFor(servername)
    } catch (err) {
      this.options.onSniError?.(err, servername)
      ctx = this.current.contexts[0] as SecureContext
    }
    cb(null, ctx)
  }

  /** Registers a server whose default context (used without SNI) follows reloads. */
  attach(server: { setSecureContext(o: SecureContextOptions): void; getTicketKeys(): Buffer; setTicketKeys(k: Buffer): void }): void {
    this.servers.add(server)
  }

  /**
   * Rebuilds every context now, from `entries` when given (a configuration reload) or from the same
   * files. Returns true when the new set is in use; false when it failed (the previous set stays and
   * `onReload` is told why). Never throws.
   */
  reload(entries?: readonly CertificateEntry[], reason: 'change' | 'manual' = 'manual'): boolean {
    if (this.closed) return false
    const next = entries ?? this.entries
    let set: ContextSet
    try {
      set = this.build(next)
    } catch (err) {
      // Keep the stamps of the files as they are now: the same broken content is not retried on every poll.
      this.stamps = this.stampAll(next)
      this.report({ ok: false, reason, error: err instanceof Error ? err : new Error(String(err)) })
      return false
    }
    const rewatch = entries !== undefined && entries !== this.entries
    this.current = set
    this.entries = next
    this.stamps = this.stampAll(next)
    for (const server of this.servers) {
      try {
        // setSecureContext replaces the ticket keys too: keep them so sessions stay resumable.
        const keys = server.getTicketKeys()
        server.setSecureContext(set.defaultOptions)
        server.setTicketKeys(keys)
      } catch (err) {
        this.report({ ok: false, reason, error: err instanceof Error ? err : new Error(String(err)) })
      }
    }
    if (rewatch && this.options.watch) {
      this.stopWatching()
      this.startWatching()
    }
    this.report({ ok: true, reason, names: set.names })
    return true
  }

  /** Stops watching and polling. Contexts stay usable. Idempotent. */
  close(): void {
    this.closed = true
    this.stopWatching()
  }

  private report(event: CertificateReloadEvent): void {
    if (this.options.onReload !== undefined) {
      try {
        this.options.onReload(event)
      } catch {
        // A faulty listener must not break the reload path.
      }
    } else if (!event.ok) {
      console.error(`lb: certificate reload failed, previous certificates kept: ${event.error.message}`)
    }
  }

  private build(entries: readonly CertificateEntry[]): ContextSet {
    if (entries.length === 0) throw new LbError('LB_ERR_CONFIG', 'tls.certificates: expected at least one certificate')
    const contexts: SecureContext[] = []
    const exact = new Map<string, number>()
    const wildcard = new Map<string, number>()
    const names: string[] = []
    let defaultOptions: SecureContextOptions | undefined
    entries.forEach((entry, i) => {
      const where = `tls.certificates[${i}]`
      const cert = readPem(entry.cert, `${where}.cert`)
      const key = readPem(entry.key, `${where}.key`)
      const options: SecureContextOptions = {
        cert,
        key,
        minVersion: this.options.minVersion,
        ciphers: this.options.ciphers,
        honorCipherOrder: true,
      }
      try {
        contexts.push(createSecureContext(options))
      } catch (err) {
        throw new LbError('LB_ERR_CONFIG', `${where}: ${describeTlsError(err)} (cert ${label(entry.cert)}, key ${label(entry.key)})`, { cause: err })
      }
      defaultOptions ??= options
      const own = entry.serverNames.length > 0 ? entry.serverNames : namesInCertificate(cert)
      for (const raw of own) {
        const name = raw.trim().toLowerCase().replace(/\.$/, '')
        if (name === '') continue
        // First certificate listing a name wins, as in nginx.
        if (name.startsWith('*.')) {
          if (!wildcard.has(name.slice(1))) wildcard.set(name.slice(1), i)
        } else if (!exact.has(name)) {
          exact.set(name, i)
        }
        names.push(name)
      }
    })
    return { contexts, exact, wildcard, names, defaultOptions: defaultOptions as SecureContextOptions }
  }

  private files(entries: readonly CertificateEntry[]): string[] {
    const out = new Set<string>()
    for (const e of entries) {
      if (!isInlinePem(e.cert)) out.add(e.cert)
      if (!isInlinePem(e.key)) out.add(e.key)
    }
    return [...out]
  }

  /** mtime/size/inode of every file ('' when missing), to tell a real change from a watcher's noise. */
  private stampAll(entries: readonly CertificateEntry[]): Map<string, string> {
    const out = new Map<string, string>()
    for (const f of this.files(entries)) out.set(f, stampOf(f))
    return out
  }

  private hasChanged(): boolean {
    for (const [file, stamp] of this.stamps) if (stampOf(file) !== stamp) return true
    return false
  }

  private startWatching(): void {
    const files = this.files(this.entries)
    const dirs = new Set(files.map((f) => dirname(f)))
    for (const dir of dirs) {
      try {
        // Directory watches see editors' rename-over and Kubernetes' `..data` symlink swaps; a file watch would not.
        const w = watch(dir, { persistent: false }, () => this.schedule())
        w.on('error', () => w.close())
        this.watchers.push(w)
      } catch {
        // No inotify (or the directory is gone): the poll below still sees changes.
      }
    }
    if (this.options.pollIntervalMs > 0 && files.length > 0) {
      this.pollTimer = setInterval(() => {
        if (this.hasChanged()) this.schedule()
      }, this.options.pollIntervalMs)
      this.pollTimer.unref()
    }
  }

  private stopWatching(): void {
    for (const w of this.watchers) w.close()
    this.watchers = []
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer)
    if (this.debounceTimer !== undefined) clearTimeout(this.debounceTimer)
    this.pollTimer = undefined
    this.debounceTimer = undefined
  }

  private schedule(): void {
    if (this.closed) return
    if (this.debounceTimer !== undefined) clearTimeout(this.debounceTimer)
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined
      if (this.hasChanged()) this.reload(undefined, 'change')
    }, this.options.debounceMs)
    this.debounceTimer.unref()
  }
}

function isInlinePem(value: string): boolean {
  return value.includes('-----BEGIN')
}

function readPem(value: string, where: string): string {
  if (isInlinePem(value)) return value
  try {
    return readFileSync(value, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error'
    throw new LbError('LB_ERR_CONFIG', `${where}: cannot read ${value} (${code})`, { cause: err })
  }
}

function stampOf(file: string): string {
  try {
    const s = statSync(file)
    return `${s.mtimeMs}:${s.size}:${s.ino}`
  } catch {
    return ''
  }
}

function label(value: string): string {
  return isInlinePem(value) ? '(inline PEM)' : basename(value)
}

/** DNS names of a certificate's subjectAltName (or its CN when it has none). Empty when it cannot be parsed. */
function namesInCertificate(pem: string): string[] {
  try {
    const x = new X509Certificate(pem)
    const san = x.subjectAltName
    if (san !== undefined) {
      return san.split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4))
    }
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)
    return cn?.[1] !== undefined ? [cn[1]] : []
  } catch {
    return []
  }
}

function describeTlsError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  if (/key values mismatch/i.test(message)) return 'the private key does not match the certificate'
  if (/no start line|bad base64|PEM/i.test(message)) return `not a valid PEM certificate or key (${message})`
  return message
}
