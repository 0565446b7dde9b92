import { loadResponseParser } from './response-parser.js'

/**
 * Whether the fast path is on in this process: yes unless `LB_FAST_PATH` says `off` (or `0`, `false`, `no`).
 * Off, pools open no own connections and every request takes the general path (undici), the way to set
 * aside the own upstream code when a backend misbehaves with it. Its evidence (the differential run
 * against `node:http` + undici, the million-request fuzz campaign, the whole suite on both paths in CI):
 * docs/profiling.md.
 */
export function isFastPathEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.LB_FAST_PATH?.trim().toLowerCase()
  return !(v === 'off' || v === '0' || v === 'false' || v === 'no')
}

/** One line for the start-up log naming what carries HTTP/1.1 to `http://` backends. */
export function describeUpstreamHttp1(env: NodeJS.ProcessEnv = process.env): string {
  if (!isFastPathEnabled(env)) return 'lb: upstream HTTP/1.1: undici (LB_FAST_PATH=off)'
  if (loadResponseParser() === undefined) return "lb: upstream HTTP/1.1: undici (this Node's _http_common lacks the response parser)"
  return 'lb: upstream HTTP/1.1: own connections (the fast path; LB_FAST_PATH=off for undici)'
}
