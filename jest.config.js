/** One jest config for every package: TS via swc, workspace packages resolved to their sources. */
const path = require('node:path');
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] },
  moduleNameMapper: {
    '^@switchboard/test-helpers$': path.join(__dirname, 'test/helpers/src/index.ts'),
    '^@switchboard/(protocol|store|transport|demo-server|auth|tasks|gateway)$': path.join(__dirname, 'packages/$1/src/index.ts'),
  },
  testMatch: ['<rootDir>/packages/**/src/**/*.test.ts', '<rootDir>/apps/**/src/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts', '<rootDir>/test/deploy/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 60000,
};
