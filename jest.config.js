// Six suites: unit (pure logic, no servers; the launcher's and the benchmark's
// too), integration (real RabbitMQ and PostgreSQL of the run's own, on
// loopback), e2e (the built apps as separate processes), faults (the built apps
// under load while processes, the broker, the database and the network fail),
// cluster (the built apps on a three-node RabbitMQ cluster of their own while
// its nodes die) and deploy (the Dockerfile, the compose file and the Helm
// chart, checked offline). `npm test` runs all of them. ts-jest keeps Nest's
// decorator metadata; type checking is `npm run typecheck`'s job.
const typescript = ['ts-jest', { tsconfig: 'tsconfig.json' }];

const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': typescript },
  moduleNameMapper: { '^@pipeline/(.*)$': '<rootDir>/libs/$1/src' },
  setupFiles: ['reflect-metadata'],
};
// The suites that need servers get a RabbitMQ node and a PostgreSQL server of
// the run's own, started once before the first of them and removed after the
// last (test/support/test-services.ts).
const withServers = {
  ...shared,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFilesAfterEnv: ['<rootDir>/test/support/setup.ts'],
};

module.exports = {
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: [
    {
      ...shared,
      displayName: 'unit',
      setupFilesAfterEnv: ['<rootDir>/test/support/unit-setup.ts'],
      testMatch: [
        '<rootDir>/libs/**/*.spec.ts',
        '<rootDir>/apps/**/*.spec.ts',
        '<rootDir>/scripts/**/*.spec.ts',
        '<rootDir>/bench/**/*.spec.ts',
      ],
    },
    {
      ...withServers,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.spec.ts'],
    },
    {
      ...withServers,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'],
    },
    {
      ...withServers,
      displayName: 'faults',
      testMatch: ['<rootDir>/test/faults/**/*.spec.ts'],
    },
    {
      ...withServers,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.spec.ts'],
    },
    // The container image, docker-compose.yml and the Helm chart, checked
    // offline (test/deploy).
    {
      ...shared,
      displayName: 'deploy',
      testMatch: ['<rootDir>/test/deploy/**/*.spec.ts'],
    },
  ],
};
