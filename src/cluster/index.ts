export { WorkerSupervisor, type SupervisorOptions } from './primary.js'
export { runWorker, type WorkerApp } from './worker.js'
export { isPrimaryMessage, isWorkerMessage, type PrimaryMessage, type WorkerMessage, type EndpointChange } from './ipc.js'
