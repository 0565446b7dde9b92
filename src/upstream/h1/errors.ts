/** Error with a `code` the attempt classifier knows (the codes undici uses). */
export function codedError(message: string, code: string, cause?: unknown): Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string }
  err.code = code
  return err
}
