/**
 * Where the process's own upstream connections read, and the memory their response bodies are lent in.
 *
 * A `net` socket read the usual way (a `data` listener) gets a new 64 KiB `ArrayBuffer` from Node for every
 * read, shrunk to the bytes read and kept alive until the garbage collector finds it, and each chunk goes
 * through the `Readable` machinery (push, buffer, emit, read-more tick). Profiled on the fast path, that was
 * a tenth of a worker's user time at 16 KiB responses. Every upstream socket reads into one buffer of the
 * process instead (`onread`): a read's callback runs to its end before the next read on any socket, and
 * nothing keeps a reference to it after the callback (llhttp copies the pieces of a field split across
 * packets, header fields reach JavaScript as strings, chunked bodies as copies).
 *
 * Body bytes forwarded as they are (see `connection.ts`) must outlive the callback when the client's socket
 * cannot take them at once: a write the kernel took in part keeps a reference to the rest. So they are
 * copied into a second buffer, lent to the handler for the duration of `onData`, and the loan ends one of
 * two ways: the handler says it holds nothing (the client's socket took every byte), and the next body is
 * copied into the same memory; or it may still hold the chunk, and the memory is given up to it (the next
 * body gets a new buffer; the old one is freed once the write that holds it is done and collected).
 */

/** Bytes one read may bring (the size Node reads with by default). */
export const READ_SIZE = 64 * 1024

/** The one read buffer of the process's upstream sockets. */
export const readBuffer: Buffer = Buffer.allocUnsafeSlow(READ_SIZE)

let lendable: Buffer = Buffer.allocUnsafeSlow(READ_SIZE)
/** A loan is out: a second one (a handler that read again from inside `onData`) gets memory of its own. */
let lent = false

/**
 * A copy of `source[from, to)` in the lent memory. The caller must end the loan with {@link endLoan} before
 * its read callback returns.
 */
export function lend(source: Buffer, from: number, to: number): Buffer {
  if (lent || to - from > lendable.length) return Buffer.from(source.subarray(from, to))
  lent = true
  source.copy(lendable, 0, from, to)
  return lendable.subarray(0, to - from)
}

/** Ends the loan of `chunk`; `kept`: the borrower may still read it later (the memory is given up). */
export function endLoan(chunk: Buffer, kept: boolean): void {
  if (chunk.buffer !== lendable.buffer) return // a copy of its own
  lent = false
  if (kept) lendable = Buffer.allocUnsafeSlow(READ_SIZE)
}
