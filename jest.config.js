/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // cookie@2 (used by fastify's inject) and sanitize-html's htmlparser2 family ship as ESM only:
  // compile them to CommonJS like our code.
  transform: { '^.+\\.(ts|js)$': ['@swc/jest'] },
  transformIgnorePatterns: [
    '/node_modules/(?!(cookie|(sanitize-html/node_modules/)?(htmlparser2|domhandler|domutils|domelementtype|dom-serializer|entities))/)',
  ],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  testTimeout: 180000,
  maxWorkers: 2,
  // Always run test files in workers (jest runs a lone file in its own process otherwise): workers see the
  // NODE_EXTRA_CA_CERTS that globalSetup sets for the Graph fake's CA.
  workerIdleMemoryLimit: '1GB',
  verbose: true,
};
