/**
 * `name` (a string or latin1 bytes) equals the lower-case `lower` (same length) ignoring ASCII case.
 * Allocation-free: for tokens (header names, methods), which parsers have already checked, folding bit
 * 0x20 maps exactly the letters A-Z to a-z. The caller compares lengths first.
 */
export function sameToken(name: string | Uint8Array, lower: string): boolean {
  const text = typeof name === 'string'
  for (let i = 0; i < lower.length; i++) {
    const c = text ? name.charCodeAt(i) : (name[i] as number)
    if (c !== lower.charCodeAt(i) && (c | 0x20) !== lower.charCodeAt(i)) return false
  }
  return true
}
