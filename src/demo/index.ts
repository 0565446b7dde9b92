/** Sample backends (HTTP routes and a WebSocket echo) for the demo, the benchmark and the tests. */
export {
  startSampleBackend,
  startSampleBackends,
  expectedDownloadSha256,
  downloadChunk,
  MAX_STREAM_BYTES,
  MAX_ECHO_BYTES,
  MAX_DELAY_MS,
  CHUNK_BYTES,
} from './sample-backend.js'
export type { SampleBackend, SampleBackendOptions } from './sample-backend.js'
export { attachWebSocketEcho, computeAcceptKey, encodeFrame, WEBSOCKET_GUID, DEFAULT_MAX_MESSAGE_BYTES } from './websocket.js'
export type { WebSocketEcho, WebSocketEchoOptions, WebSocketMessageHandler } from './websocket.js'
