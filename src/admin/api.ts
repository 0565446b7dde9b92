/**
 * The JSON API of SPEC section 6 over the primary's {@link FleetControl}: pools, endpoints, add,
 * remove, drain, enable, re-weight, reload. Every handler answers `{ status, body }`; the server does
 * the HTTP part (authentication, body reading, errors).
 */
import { configFileSchema, type BackendConfig } from '../config/index.js'
import type { PoolView } from '../cluster/index.js'

/** The endpoint control the API drives (the shape of `cluster/`'s `Fleet`). */
export interface FleetControl {
  pools(): PoolView[]
  pool(name: string): PoolView | undefined
  /** The mutations may be asynchronous (a shared state store applies them first). */
  setDrained(pool: string, id: string, drained: boolean): boolean | Promise<boolean>
  setWeight(pool: string, id: string, weight: number): boolean | Promise<boolean>
  addEndpoint(pool: string, backend: BackendConfig): boolean | Promise<boolean>
  removeEndpoint(pool: string, id: string): boolean | Promise<boolean>
}

/** Outcome of a configuration reload requested through `POST /api/reload`. */
export type ReloadResult = { ok: true; detail?: string } | { ok: false; problems: string[] }

/** An API answer. */
export interface ApiResponse {
  status: number
  body: unknown
}

const error = (status: number, message: string, extra: Record<string, unknown> = {}): ApiResponse => ({ status, body: { error: message, ...extra } })

/** Validates an added backend with the configuration schema's own rules; returns the backend or the problems. */
export function parseBackend(input: unknown): { backend: BackendConfig } | { problems: string[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { problems: ['(root): expected a JSON object such as {"url": "http://10.0.0.5:3000"}'] }
  // The same schema as a configuration file, around one backend: same defaults, same messages.
  const result = configFileSchema.safeParse({ pools: { p: { backends: [input] } } })
  if (!result.success) {
    const prefix = ['pools', 'p', 'backends', 0]
    return {
      problems: result.error.issues.map((i) => {
        let path = i.path.slice(0, 4).every((k, n) => k === prefix[n]) ? i.path.slice(4) : i.path
        // An unknown key is reported on its parent: name the key itself, as `lb check` does.
        if (i.code === 'unrecognized_keys' && i.keys.length === 1) path = [...path, ...i.keys]
        return `${path.length === 0 ? '(root)' : path.map(String).join('.')}: ${i.message}`
      }),
    }
  }
  const backend = result.data.pools.p?.backends[0]
  if (backend === undefined) return { problems: ['(root): expected a backend'] }
  // SRV discovery runs from the configuration file only: an added endpoint is one address to connect to.
  if (backend.url.startsWith('srv+')) return { problems: ['url: expected an http:// or https:// URL (srv+ URLs are discovered from the configuration file, not added one by one)'] }
  return { backend }
}

/** Route handlers; `body` is the parsed JSON (undefined when none was sent). */
export class AdminApi {
  constructor(
    private readonly fleet: FleetControl,
    private readonly reload: (() => Promise<ReloadResult>) | undefined,
  ) {}

  listPools(): ApiResponse {
    return { status: 200, body: { pools: this.fleet.pools() } }
  }

  getPool(pool: string): ApiResponse {
    const view = this.fleet.pool(pool)
    return view === undefined ? error(404, `unknown pool "${pool}"`) : { status: 200, body: view }
  }

  getEndpoint(pool: string, id: string): ApiResponse {
    const view = this.fleet.pool(pool)
    if (view === undefined) return error(404, `unknown pool "${pool}"`)
    const e = view.endpoints.find((x) => x.id === id)
    return e === undefined ? error(404, `unknown endpoint "${id}" in pool "${pool}"`) : { status: 200, body: e }
  }

  async addEndpoint(pool: string, body: unknown): Promise<ApiResponse> {
    if (this.fleet.pool(pool) === undefined) return error(404, `unknown pool "${pool}"`)
    const parsed = parseBackend(body)
    if ('problems' in parsed) return error(400, parsed.problems.join('; '), { problems: parsed.problems })
    if (!(await this.fleet.addEndpoint(pool, parsed.backend))) return error(409, `endpoint "${parsed.backend.id}" already exists in pool "${pool}"`)
    return { status: 201, body: this.fleet.pool(pool)?.endpoints.find((e) => e.id === parsed.backend.id) ?? parsed.backend }
  }

  async removeEndpoint(pool: string, id: string): Promise<ApiResponse> {
    const missing = this.missing(pool, id)
    if (missing !== undefined) return missing
    if (!(await this.fleet.removeEndpoint(pool, id))) return error(404, `unknown endpoint "${id}" in pool "${pool}"`)
    return { status: 200, body: { removed: id, pool } }
  }

  async setDrained(pool: string, id: string, drained: boolean): Promise<ApiResponse> {
    const missing = this.missing(pool, id)
    if (missing !== undefined) return missing
    if (!(await this.fleet.setDrained(pool, id, drained))) return error(404, `unknown endpoint "${id}" in pool "${pool}"`)
    return this.getEndpoint(pool, id)
  }

  async patchEndpoint(pool: string, id: string, body: unknown): Promise<ApiResponse> {
    const missing = this.missing(pool, id)
    if (missing !== undefined) return missing
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return error(400, '(root): expected a JSON object such as {"weight": 5}')
    const extra = Object.keys(body).filter((k) => k !== 'weight')
    if (extra.length > 0) return error(400, `${extra[0]}: unknown field (only "weight" can be changed here; use drain/enable for the rest)`)
    const weight = (body as { weight?: unknown }).weight
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > 1_000_000) return error(400, 'weight: expected a number 0-1000000')
    if (!(await this.fleet.setWeight(pool, id, weight))) return error(404, `unknown endpoint "${id}" in pool "${pool}"`)
    return this.getEndpoint(pool, id)
  }

  async reloadConfig(): Promise<ApiResponse> {
    if (this.reload === undefined) return error(501, 'configuration reload is not available for this configuration source (it was given inline): restart the balancer')
    const r = await this.reload()
    return r.ok ? { status: 200, body: { reloaded: true, detail: r.detail } } : error(400, 'configuration rejected; the running configuration stays', { problems: r.problems })
  }

  private missing(pool: string, id: string): ApiResponse | undefined {
    const view = this.fleet.pool(pool)
    if (view === undefined) return error(404, `unknown pool "${pool}"`)
    if (!view.endpoints.some((e) => e.id === id)) return error(404, `unknown endpoint "${id}" in pool "${pool}"`)
    return undefined
  }
}
