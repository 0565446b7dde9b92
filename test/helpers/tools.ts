/**
 * System tools some tests drive (Chromium, promtool, ...). On a developer machine a missing tool skips the
 * test that needs it, saying how to install it; in CI (`CI=true`) or with `LB_REQUIRE_TOOLS=1` it fails
 * the test instead, so the suite cannot go green by skipping.
 */
import assert from 'node:assert/strict'

/** True when a missing tool must fail its test: `CI=true` or `LB_REQUIRE_TOOLS=1`. */
export function isToolRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.LB_REQUIRE_TOOLS === '1'
}

/**
 * Called by a test whose tool is missing: fails it when tools are required (see {@link isToolRequired}),
 * else skips it with `message`. Return from the test right after calling it.
 */
export function skipOrFailMissingTool(t: { skip(message?: string): void }, message: string): void {
  if (isToolRequired()) assert.fail(`${message} (required here: CI=true or LB_REQUIRE_TOOLS=1 turns this skip into a failure)`)
  t.skip(message)
}
