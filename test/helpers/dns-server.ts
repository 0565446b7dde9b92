/**
 * A small authoritative DNS server for tests, on node:dgram (UDP) at 127.0.0.1 on a free port: A, AAAA
 * and SRV answers with a TTL, changeable at run time; unknown names get NXDOMAIN, known names without
 * records of the asked type an empty NOERROR answer. Point a pool at it with
 * `dnsResolvers: [server.address]`. `stop()` closes the socket (queries are then refused).
 */
import dgram from 'node:dgram'
import { isIP } from 'node:net'

/** One SRV record. */
export interface SrvRecord {
  target: string
  port: number
  weight?: number
  priority?: number
}

/** The records of one name. */
export interface DnsRecords {
  a?: string[]
  aaaa?: string[]
  srv?: SrvRecord[]
  /** Seconds (default 1). */
  ttl?: number
}

/** A running test DNS server. */
export interface TestDnsServer {
  readonly port: number
  /** `127.0.0.1:<port>`, as `dnsResolvers` takes it. */
  readonly address: string
  /** Sets (replaces) the records of a name; `undefined` removes the name (NXDOMAIN). */
  set(name: string, records: DnsRecords | undefined): void
  /** Number of queries answered, per name (lower case). */
  queries(name: string): number
  /** Closes the socket. Idempotent. */
  stop(): Promise<void>
}

const TYPE = { A: 1, AAAA: 28, SRV: 33 } as const

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((p) => p !== '')
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])])
}

/** Reads the question's name starting at 12; returns it and the offset after qtype/qclass. */
function readQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  let i = 12
  const labels: string[] = []
  while (i < msg.length) {
    const len = msg[i] as number
    if (len === 0) break
    if (len > 63) return undefined // no compression in a question we send ourselves
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'))
    i += 1 + len
  }
  if (i + 5 > msg.length) return undefined
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 }
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const groups = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

function answer(type: number, ttl: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12)
  head.writeUInt16BE(0xc00c, 0) // pointer to the question's name
  head.writeUInt16BE(type, 2)
  head.writeUInt16BE(1, 4) // IN
  head.writeUInt32BE(ttl, 6)
  head.writeUInt16BE(rdata.length, 10)
  return Buffer.concat([head, rdata])
}

function answersFor(records: DnsRecords, type: number): Buffer[] {
  const ttl = records.ttl ?? 1
  if (type === TYPE.A) return (records.a ?? []).filter((a) => isIP(a) === 4).map((a) => answer(type, ttl, Buffer.from(a.split('.').map(Number))))
  if (type === TYPE.AAAA) return (records.aaaa ?? []).filter((a) => isIP(a) === 6).map((a) => answer(type, ttl, ipv6Bytes(a)))
  if (type === TYPE.SRV) {
    return (records.srv ?? []).map((r) => {
      const fixed = Buffer.alloc(6)
      fixed.writeUInt16BE(r.priority ?? 0, 0)
      fixed.writeUInt16BE(r.weight ?? 1, 2)
      fixed.writeUInt16BE(r.port, 4)
      return answer(type, ttl, Buffer.concat([fixed, encodeName(r.target)]))
    })
  }
  return []
}

/** Starts the server on 127.0.0.1, port 0 (free). */
export async function startDnsServer(): Promise<TestDnsServer> {
  const zone = new Map<string, DnsRecords>()
  const counts = new Map<string, number>()
  const socket = dgram.createSocket('udp4')
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 12) return
    const q = readQuestion(msg)
    if (q === undefined) return
    counts.set(q.name, (counts.get(q.name) ?? 0) + 1)
    const records = zone.get(q.name)
    const answers = records === undefined ? [] : answersFor(records, q.type)
    const header = Buffer.alloc(12)
    msg.copy(header, 0, 0, 2) // id
    const rd = (msg[2] as number) & 0x01
    header.writeUInt16BE(0x8000 | 0x0400 | (rd << 8) | 0x0080 | (records === undefined ? 3 : 0), 2) // QR AA RD RA, NXDOMAIN
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(answers.length, 6)
    socket.send(Buffer.concat([header, msg.subarray(12, q.end), ...answers]), rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, '127.0.0.1', () => resolve())
  })
  const port = socket.address().port
  let stopped: Promise<void> | undefined
  return {
    port,
    address: `127.0.0.1:${port}`,
    set: (name, records) => {
      if (records === undefined) zone.delete(name.toLowerCase())
      else zone.set(name.toLowerCase(), records)
    },
    queries: (name) => counts.get(name.toLowerCase()) ?? 0,
    stop: () => (stopped ??= new Promise<void>((resolve) => socket.close(() => resolve()))),
  }
}
