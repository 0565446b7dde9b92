export { applyToPools, buildProxyContext, createWorkerApp, type ProxyContextExtras, type ProxyProcess } from './worker-app.js'
export { startBalancer, type RunningBalancer, type StartOptions } from './primary-app.js'
