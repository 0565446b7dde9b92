export { createHttpServer } from './http-server.js'
export { drainServer } from './drain.js'
export { handleClientError } from './client-errors.js'
