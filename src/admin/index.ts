/**
 * Admin: the server of the primary (probes, metrics, dashboard, JSON API) and its authentication.
 */
export { AdminServer, type AdminServerOptions } from './server.js'
export { MetricsServer, type MetricsServerOptions } from './metrics-server.js'
export { AdminApi, parseBackend, type FleetControl, type ReloadResult, type ApiResponse } from './api.js'
export { hasBearerToken, hasBasicToken, generateToken, isLoopbackHost } from './auth.js'
