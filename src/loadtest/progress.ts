/**
 * Live progress of a load run on stderr: a bar redrawn in place when stderr is a terminal, else one
 * plain line every few seconds (CI logs and pipes get no carriage returns or escape codes).
 */
import type { LoadProgress } from './run-load.js'

/** Where and how to draw. */
export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  /** Shown before the numbers (`round-robin`, a URL ...). */
  label: string
  /** The run ends after this long, ms (duration mode). */
  totalMs?: number | undefined
  /** The run ends after this many responses (request-count mode). */
  totalRequests?: number | undefined
}

/** Draws {@link LoadProgress} snapshots; call {@link ProgressReporter.finish} once at the end. */
export class ProgressReporter {
  private readonly isTty: boolean
  private lastLineAt = -Infinity
  private readonly lineEveryMs: number

  constructor(private readonly options: ProgressOptions) {
    this.isTty = options.stream.isTTY === true
    // Plain lines: every second for short runs, about 20 lines for long ones.
    this.lineEveryMs = Math.max(1000, Math.round((options.totalMs ?? 10_000) / 20 / 1000) * 1000)
  }

  /** Fraction done in [0, 1], or undefined when unknown. */
  private fraction(p: LoadProgress): number | undefined {
    if (this.options.totalRequests !== undefined) return Math.min(1, p.completed / this.options.totalRequests)
    if (this.options.totalMs !== undefined) return Math.min(1, p.elapsedMs / this.options.totalMs)
    return undefined
  }

  /** Called with each snapshot (several per second). */
  update(p: LoadProgress): void {
    const f = this.fraction(p)
    const stats = `${formatCount(p.lastSecond)} req/s  ${formatCount(p.completed)} done  ${formatCount(p.errors)} errors`
    const time = this.options.totalMs === undefined ? `${(p.elapsedMs / 1000).toFixed(1)}s` : `${(p.elapsedMs / 1000).toFixed(1)}s/${(this.options.totalMs / 1000).toFixed(0)}s`
    if (this.isTty) {
      const width = Math.max(10, Math.min(30, (this.options.stream.columns ?? 80) - 70))
      const filled = f === undefined ? 0 : Math.round(f * width)
      const bar = `[${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}]`
      const pct = f === undefined ? '' : ` ${(f * 100).toFixed(0).padStart(3)}%`
      this.options.stream.write(`\r\x1b[2K${this.options.label} ${bar}${pct} ${time}  ${stats}`)
      return
    }
    if (p.elapsedMs - this.lastLineAt < this.lineEveryMs) return
    this.lastLineAt = p.elapsedMs
    this.options.stream.write(`${this.options.label}: ${time}${f === undefined ? '' : ` (${(f * 100).toFixed(0)}%)`}  ${stats}\n`)
  }

  /** Clears the bar (terminal) so the table starts on a clean line. */
  finish(): void {
    if (this.isTty) this.options.stream.write('\r\x1b[2K')
  }
}

/** 12345 -> `12,345`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}
