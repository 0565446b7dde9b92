/** Entry point of a forked proxy worker (see cluster/primary.ts). */
import { runWorker } from './cluster/index.js'
import { createWorkerApp } from './app.js'

runWorker((config, send) => createWorkerApp(config, send))
