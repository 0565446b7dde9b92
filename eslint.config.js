// Lint runs before tests in CI. Type-aware rules are left to `tsc`; these catch mistakes and enforce layering.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

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
    // health never reaches into selection.
    files: ['src/upstream/health/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/balancer/**', '**/balancer/index.js'], message: 'upstream/health reports transitions; it does not import balancer/' }] }],
    },
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
