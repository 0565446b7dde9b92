export { Http1Dispatcher, type Http1DispatcherOptions } from './dispatcher.js'
export { loadResponseParser, type ResponseParserClass } from './response-parser.js'
