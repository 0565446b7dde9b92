/**
 * Whether this Node can bind listeners with SO_REUSEPORT (`net.Server#listen({ reusePort })`): Node 22.12+
 * or 23.1+, on the platforms whose kernels balance connections over such sockets. Older Node ignores the
 * option without a word, which would leave every worker but one idle, so callers refuse it instead.
 * Returns undefined when it is available, else why not (one phrase, for a configuration message).
 */
export function reusePortUnsupported(version: string = process.versions.node, platform: string = process.platform): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  const nodeOk = major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
  if (!nodeOk) return `needs Node 22.12+ or 23.1+ (this is Node ${version})`
  if (platform !== 'linux' && platform !== 'freebsd') return `is not available on ${platform} (Linux or FreeBSD)`
  return undefined
}
