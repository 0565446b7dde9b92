/**
 * Configuration: the file schema, loading with precedence (defaults < file < env < flags), validation
 * with every problem reported at once, and the JSON schema for editors. Other folders import from here.
 */
export type * from './types.js'
export { ConfigError } from './errors.js'
export { loadConfig, loadConfigSync, checkConfigFile, findConfigFile, DISCOVERY_ORDER } from './load.js'
export type { LoadOptions } from './load.js'
export type { ConfigFlags } from './env.js'
export { ENV_VARS } from './env.js'
export { describeConfig } from './describe.js'
export { isDiscoveredUrl } from '../core/index.js'
export { configWarnings } from './upstream-tls-check.js'
export { tlsMaterialProblem } from '../core/index.js'
export { watchConfigFile, type ConfigWatch, type ConfigWatchOptions } from './watch.js'
export { redactConfig } from './redact.js'
export { configJsonSchema } from './json-schema.js'
export { parseDuration, parseSize, formatDuration, formatSize } from './duration.js'
export { configFileSchema } from './schema.js'
export type { ConfigFileInput } from './schema.js'
