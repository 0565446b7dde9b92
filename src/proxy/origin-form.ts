/**
 * `http://host/p?q` -> `/p?q` (RFC 9112 section 3.2.2: a server takes the target's path and query from
 * the absolute form; backends are sent the origin form). Origin-form is returned unchanged; an
 * absolute form without a path gives `/`. Anything else (`*`, authority form) is returned unchanged.
 */
export function toOriginForm(url: string): string {
  if (url.charCodeAt(0) === 47) return url
  const scheme = url.indexOf('://')
  if (scheme === -1) return url
  const slash = url.indexOf('/', scheme + 3)
  if (slash !== -1) return url.slice(slash)
  // `http://host?q` has an empty path: RFC 9112 makes it `/`, keeping the query.
  const q = url.indexOf('?', scheme + 3)
  return q === -1 ? '/' : `/${url.slice(q)}`
}
