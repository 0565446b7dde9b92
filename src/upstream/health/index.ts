/** Public surface of `upstream/health/`: active checks, rise/fall thresholds and outlier detection. */
export type { HealthChecker } from './types.js'
export { HealthThresholds } from './thresholds.js'
export {
  ActiveHealthChecker,
  PROBE_USER_AGENT,
  isExpectedStatus,
  type ActiveHealthCheckerOptions,
  type ProbeSnapshot,
} from './active.js'
export {
  OutlierDetector,
  maxEjectedCount,
  type EjectionChange,
  type OutlierDetectorOptions,
  type OutlierFailureKind,
  type OutlierSnapshot,
  type RemoteEjection,
} from './passive.js'
