/**
 * Sticky-session tags: the opaque cookie value naming an endpoint. A tag is an HMAC-SHA256 of the
 * pool name and endpoint id under the pool's secret, so a client cannot read the backend address from
 * it nor forge one for an endpoint it was never sent to, and every worker and every instance sharing
 * the secret computes the same tag for the same endpoint (no shared session table).
 */
import { createHmac } from 'node:crypto'

/** Tag length in base64url characters (132 bits). */
const TAG_LENGTH = 22

/** The sticky tag of endpoint `id` in pool `pool` under `secret`. */
export function stickyTag(secret: string, pool: string, id: string): string {
  return createHmac('sha256', secret).update(`${pool}\n${id}`).digest('base64url').slice(0, TAG_LENGTH)
}
