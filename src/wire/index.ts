// The balancer's own answers at the byte level, shared by the proxy (refused upgrades, error responses)
// and the listeners (parse errors): raw error responses and the facts of which connections close.
export { RETRY_AFTER_SECONDS, endThenLinger, errorBody, lingerThenClose, statusFor, writeRawError } from './raw-error.js'
export { closesConnection, isClosingAfterError, markClosesConnection, markClosingAfterError } from './closing.js'
