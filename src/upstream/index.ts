export { UpstreamPool, type UpstreamPoolOptions, type EndpointSnapshot } from './pool.js'
export { isReady, type EndpointState } from './endpoint-state.js'
export { EndpointStats } from './endpoint-stats.js'
