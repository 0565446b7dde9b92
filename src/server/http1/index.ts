export { Http1Connections, Http1Server, serveHttp1, type Http1ServerOptions, type RequestListener, type ResponseRegistry } from './server.js'
export { Http1Request, Http1Response } from './message.js'
export { loadParserBinding, selfTestParserBinding, type ModuleLoader, type ParserBinding } from './parser-binding.js'
