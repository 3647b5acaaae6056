// @ts-check
import eslint from '@eslint/js';
import eslintPluginPrettierRecommended from 'eslint-plugin-prettier/recommended';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'coverage/**',
      'data/**',
      'test-artifacts/**',
      'bench-results/**',
      '.tools/**',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  eslintPluginPrettierRecommended,
  {
    languageOptions: {
      globals: {
        ...globals.node,
        ...globals.jest,
      },
      sourceType: 'commonjs',
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-floating-promises': 'warn',
      '@typescript-eslint/no-unsafe-argument': 'warn',
      // Destructuring a field away to keep the rest is how objects are copied
      // without it here. An implementation may leave an argument of its
      // interface unused: `_name` says so.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { ignoreRestSiblings: true, argsIgnorePattern: '^_' },
      ],
      'prettier/prettier': ['error', { endOfLine: 'auto' }],
      // Prettier leaves comments, strings and long names alone; this keeps
      // every line, comments included, within its width.
      'max-len': [
        'error',
        {
          code: 80,
          ignoreUrls: true,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreRegExpLiterals: true,
        },
      ],
    },
  },
  {
    // A function a reader can hold at once; tests (long tables of cases) and
    // flat `switch` tables (marked where they stand) are exempt.
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    ignores: ['**/*.spec.ts', 'test/**', '**/test/**'],
    rules: {
      'max-lines-per-function': ['error', { max: 60 }],
    },
  },
  {
    // Plain JavaScript (launchers, configs, scripts run by Node as they are)
    // is outside the TypeScript project: lint it without type information.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module' },
  },
);
