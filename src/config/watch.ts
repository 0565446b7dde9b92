/**
 * Watches the configuration file for `--watch-config` / `watchConfig: true`, with the certificate
 * watcher's approach (server/certificates.ts): the file's directory is watched, because editors replace
 * files by renaming over them and Kubernetes updates a mounted ConfigMap by flipping its `..data`
 * symlink (`lb.config.yaml -> ..data/lb.config.yaml`, `..data -> ..2026_..._x`), which a watch on the
 * file itself would never see; and a poll of the file's stamp (resolved path, inode, size, mtime) backs
 * it up where directory events do not arrive (network file systems, some container runtimes). Events
 * are debounced, and the callback runs only when the stamp really changed.
 */
import { watch, type FSWatcher } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Options of {@link watchConfigFile}. */
export interface ConfigWatchOptions {
  /** Quiet time after the last event before the file is compared, ms (default 300). */
  debounceMs?: number
  /** Fallback poll period, ms (default 2000; 0 = off). */
  pollIntervalMs?: number
}

/** A running watch; {@link ConfigWatch.close} stops it. */
export interface ConfigWatch {
  close(): void
}

/** What identifies one version of the file: '' when missing (a missing file is a change too). */
async function stampOf(file: string): Promise<string> {
  try {
    const [real, s] = await Promise.all([realpath(file), stat(file)])
    return `${real}:${s.ino}:${s.size}:${s.mtimeMs}`
  } catch {
    return ''
  }
}

/**
 * Calls `onChange` whenever `file` (absolute) changes, is replaced, or is reached through a swapped
 * symlink. Calls are never concurrent: a change seen while `onChange` runs is handled after it.
 */
export function watchConfigFile(file: string, onChange: () => Promise<void> | void, options: ConfigWatchOptions = {}): ConfigWatch {
  const debounceMs = options.debounceMs ?? 300
  const pollIntervalMs = options.pollIntervalMs ?? 2000
  let closed = false
  let stamp: Promise<string> = stampOf(file)
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()

  const compare = (): void => {
    // Chained: one comparison (and one onChange) at a time, in order.
    running = running.then(async () => {
      if (closed) return
      const before = await stamp
      const now = await stampOf(file)
      if (now === before) return
      stamp = Promise.resolve(now)
      await onChange()
    }).catch(() => undefined)
  }
  const schedule = (): void => {
    if (closed) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      compare()
    }, debounceMs)
    timer.unref()
  }

  let watcher: FSWatcher | undefined
  try {
    watcher = watch(dirname(file), { persistent: false }, () => schedule())
    watcher.on('error', () => watcher?.close())
  } catch {
    // No inotify, or the directory is gone: the poll still sees changes.
  }
  const poll = pollIntervalMs > 0 ? setInterval(compare, pollIntervalMs) : undefined
  poll?.unref()

  return {
    close: () => {
      closed = true
      watcher?.close()
      if (poll !== undefined) clearInterval(poll)
      if (timer !== undefined) clearTimeout(timer)
    },
  }
}
