/** Shared test helpers: scriptable backends (in-process and as child processes), raw network tools, WebSocket clients. */
export * from './backend.js'
export * from './backend-process.js'
export * from './net.js'
export * from './ws.js'
