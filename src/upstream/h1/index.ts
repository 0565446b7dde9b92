export { Http1Dispatcher, type Http1DispatcherOptions } from './dispatcher.js'
export { loadResponseParser, type ResponseParserClass } from './response-parser.js'
export { isFastPathEnabled, describeUpstreamHttp1 } from './enabled.js'
