// ESLint: the recommended rules of ESLint and typescript-eslint, on every source file.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // __tests__/typecheck/ holds compile-time assertions that package.test.ts checks with tsc
  // in a consumer project; their unused bindings are the point.
  // fixtures/syntax-error.js does not parse, on purpose.
  { ignores: ['dist/', 'coverage/', 'node_modules/', '__tests__/typecheck/', '__tests__/fixtures/syntax-error.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        queueMicrotask: 'readonly',
        performance: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
      },
    },
    rules: {
      // `catch {}` with a comment saying why is how this code base ignores an error on purpose.
      'no-empty': ['error', { allowEmptyCatch: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A deferred declared up front for closures and created later is not a constant.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
);
