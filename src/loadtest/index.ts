/**
 * The load-test engine behind `lb bench`: runs load on autocannon (a development dependency, loaded on
 * demand), reports progress and results, builds its own target (sample or purpose-built backends behind
 * the real balancer) and compares algorithms.
 */
export { runLoad, GENERATOR_CPU_LIMIT_PERCENT, GENERATOR_LOOP_DELAY_LIMIT_MS } from './run-load.js'
export type { LoadOptions, LoadProgress, LoadResult, GeneratorHealth } from './run-load.js'
export { loadGenerator, LoadGeneratorMissingError, LOAD_GENERATOR_MISSING, LOAD_GENERATOR_PACKAGE } from './load-generator.js'
export type { Autocannon } from './load-generator.js'
export { ProgressReporter, formatCount } from './progress.js'
export type { ProgressOptions } from './progress.js'
export { formatResult, formatComparison, resultJson, renderTable } from './report.js'
export type { ComparedRun } from './report.js'
export { startLocalStack, stopAllLocalStacks, freePort } from './local-stack.js'
export type { LocalStack, LocalStackOptions, StartBalancer, StartedBalancer } from './local-stack.js'
export { runComparison, describeScenarioBackend } from './compare.js'
export type { CompareOptions } from './compare.js'
export { startScenarioBackend } from './scenario-backend.js'
export type { ScenarioBackend, ScenarioBackendSpec } from './scenario-backend.js'
export { parseBenchArgs, DEFAULT_LATENCIES, DEFAULT_DEGRADE, DEFAULT_BACKEND_CONCURRENCY } from './options.js'
export type { BenchOptions } from './options.js'
