/**
 * Composition root, the package's entry (`main`): the only place that chooses implementations and wires
 * the layers together. `createWorkerApp` (app/worker-app.ts) builds what one proxy process serves;
 * `startBalancer` (app/primary-app.ts) runs the primary: workers, health checks, shared state, admin server.
 */
export * from './app/index.js'
