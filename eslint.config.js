// Lint config: typescript-eslint's recommended rules plus the habits in shared/STYLE.md
// (console only in the CLI, the proxy library imported by one file, pino by one file).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'certs/**', 'logs/**', 'bench/results/**', 'bench/.work/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', performance: 'readonly', setImmediate: 'readonly', structuredClone: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-console': 'error',
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'http-proxy-3', message: 'Only src/proxy/forwarder.ts imports the proxy library.' },
          { name: 'pino', message: 'Only src/log.ts imports pino.' },
        ],
      }],
    },
  },
  { files: ['src/proxy/forwarder.ts'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['src/log.ts'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['src/cli.ts', 'test/**', 'bench/**', 'bin/**'], rules: { 'no-console': 'off' } },
  // The dashboard's ES modules run in the browser.
  { files: ['src/admin/dashboard/**/*.js'], languageOptions: { globals: { document: 'readonly', window: 'readonly', location: 'readonly', Node: 'readonly' } } },
);
