// ESLint flat config: typescript-eslint recommended rules over src, test and bench, and the direction of imports in src.
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layers of src, lowest first. A layer may import its own and every lower layer, never a higher one
 * (README "Architecture" draws the same picture). The simulator stands apart: it may use only the core and logging.
 * The entry files (src/main.ts, src/healthcheck.ts, src/cli/main.ts) sit above every layer: they check the Node
 * version and hand over to a role, and nothing imports them but each other.
 */
const LAYERS = [
  ['core', ['src/core/**']],
  ['infra', ['src/redis/**', 'src/observability/**', 'src/storage/**', 'src/tracing/**']],
  ['upstream', ['src/nemo/**']],
  ['model', ['src/jobs/**', 'src/video/**', 'src/tenants/**']],
  ['services', ['src/uploads/**', 'src/webhooks/**']],
  ['flow', ['src/flow/**']],
  ['domain', ['src/domain/**']],
  ['interface', ['src/http/**', 'src/cli/**']],
  ['root', ['src/app/**']],
];
const layerNames = LAYERS.map(([name]) => name);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'bench/results/**', 'coverage/**', 'console/dist/**', 'test/artifacts/**', 'scratch/**', 'test/scratch*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { typescript: { project: './tsconfig.json' } },
      'boundaries/elements': [
        // The first descriptor that matches a file names its layer: highest first, so src/cli/main.ts is root, not interface.
        ...[...LAYERS].reverse().flatMap(([type, patterns]) => patterns.map((pattern) => ({ type, pattern, partialMatch: false }))),
        { type: 'sim', pattern: 'src/sim/**', partialMatch: false },
      ],
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          policies: [
            ...layerNames.map((name, i) => ({
              from: { element: { type: name } },
              // The root starts every role, the simulator included.
              allow: { to: { element: { types: { anyOf: name === 'root' ? [...layerNames, 'sim'] : layerNames.slice(0, i + 1) } } } },
            })),
            { from: { element: { type: 'sim' } }, allow: { to: { element: { types: { anyOf: ['core', 'sim'] } } } } },
            { from: { element: { type: 'sim' } }, allow: { to: { file: { path: 'src/observability/logger.ts' } } } },
            // Packages are not layers.
            { allow: { to: { module: { origin: 'external' } } } },
            { allow: { to: { module: { origin: 'core' } } } },
          ],
        },
      ],
    },
  },
);
