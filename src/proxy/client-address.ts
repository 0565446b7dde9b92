import { BlockList, isIPv6 } from 'node:net'

/**
 * Decides the client address: the socket peer, unless the peer is a trusted proxy, in which case
 * the right-most X-Forwarded-For hop that is not itself trusted (so a client cannot choose its own
 * address by sending the header).
 */
export class ClientAddressResolver {
  private readonly trusted: BlockList | undefined

  /** `trustedProxies`: IPs or CIDRs (`10.0.0.0/8`, `::1`). */
  constructor(trustedProxies: readonly string[]) {
    if (trustedProxies.length === 0) return
    const list = new BlockList()
    for (const entry of trustedProxies) {
      const [ip, bits] = entry.split('/') as [string, string | undefined]
      const type = isIPv6(ip) ? 'ipv6' : 'ipv4'
      if (bits === undefined) list.addAddress(ip, type)
      else list.addSubnet(ip, Number(bits), type)
    }
    this.trusted = list
  }

  /** The client address for a peer and its incoming X-Forwarded-For value ('' if none). */
  resolve(peer: string, forwardedFor: string): string {
    const ip = stripMapped(peer)
    if (this.trusted === undefined || forwardedFor === '' || !this.isTrusted(ip)) return ip
    const hops = forwardedFor.split(',')
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = stripMapped((hops[i] as string).trim())
      if (hop !== '' && !this.isTrusted(hop)) return hop
    }
    return ip
  }

  private isTrusted(ip: string): boolean {
    const list = this.trusted
    if (list === undefined) return false
    try {
      return list.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4')
    } catch {
      return false
    }
  }
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`. */
export function stripMapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
}
