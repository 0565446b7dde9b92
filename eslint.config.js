// Lint runs before tests in CI. Type-aware rules are left to `tsc`; these catch mistakes and enforce layering.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import { LAYERS } from './scripts/check-layers.mjs'

/** Every key of LAYERS that is a folder under src/ (app, cli and worker are also top-level files). */
const FOLDERS = LAYERS.flat()

/**
 * The import rule of one folder of src/, from the same layer table scripts/check-layers.mjs enforces: nothing
 * from a higher layer (as a folder or as a top-level file such as app.ts), and another folder of the same
 * layer or below only through its index.ts. `extra`: patterns a folder adds (upstream/health: no balancer/).
 */
function layerRule(folder, extra = []) {
  const layer = LAYERS.findIndex((l) => l.includes(folder))
  const above = LAYERS.slice(layer + 1).flat()
  const others = FOLDERS.filter((f) => f !== folder && !above.includes(f))
  return {
    files: [`src/${folder}/**/*.ts`],
    ignores: ['src/**/*.test.ts', 'src/**/*.suite.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          ...above.map((f) => ({ group: [`**/${f}/**`, `../${f}.js`, `../../${f}.js`, `../../../${f}.js`], message: `${folder}/ (layer ${layer}) must not import ${f} from a higher layer (scripts/check-layers.mjs)` })),
          ...others.map((f) => ({ group: [`../${f}/*`, `../../${f}/*`, `!../${f}/index.js`, `!../../${f}/index.js`], message: `import ${f}/ through its index.ts` })),
          ...extra,
        ],
      }],
    },
  }
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'docs/**/*.js', 'src/admin/dashboard/assets/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly',
        clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly',
        performance: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly',
        TextDecoder: 'readonly', queueMicrotask: 'readonly', structuredClone: 'readonly', fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'smart'],
    },
  },
  // Layering for every folder (balancer/ below is stricter still).
  ...FOLDERS.map((f) => layerRule(f)),
  {
    // balancer/ is a data structure: it sees only core/.
    files: ['src/balancer/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../core', 'node:*', 'undici', 'ioredis'], message: 'balancer/ imports only core/' }] }],
    },
  },
  {
    files: ['src/balancer/**/*.test.ts', 'src/balancer/**/*.suite.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../core', 'node:*', '!node:test', '!node:assert', '!node:assert/strict', 'undici', 'ioredis'], message: 'balancer/ imports only core/' }] }],
    },
  },
  {
    // health never reaches into selection (with upstream/'s layering, which this rule replaces for these files).
    ...layerRule('upstream', [{ group: ['**/balancer/**', '**/balancer/index.js'], message: 'upstream/health reports transitions; it does not import balancer/' }]),
    files: ['src/upstream/health/**/*.ts'],
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The dashboard's browser code: a classic script (no modules), browser globals only.
    files: ['src/admin/dashboard/static/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        window: 'readonly', document: 'readonly', EventSource: 'readonly', sessionStorage: 'readonly', fetch: 'readonly',
        location: 'readonly', navigator: 'readonly', requestAnimationFrame: 'readonly', devicePixelRatio: 'readonly',
        getComputedStyle: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly',
        clearInterval: 'readonly', URL: 'readonly', console: 'readonly', Intl: 'readonly', Date: 'readonly',
      },
    },
    rules: { 'no-var': 'off', strict: ['error', 'function'] },
  },
)
