/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // cookie@2 (used by fastify's inject) ships as ESM only: compile it to CommonJS like our code.
  transform: { '^.+\\.(ts|js)$': ['@swc/jest'] },
  transformIgnorePatterns: ['/node_modules/(?!cookie/)'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  testTimeout: 180000,
  maxWorkers: 2,
  verbose: true,
};
