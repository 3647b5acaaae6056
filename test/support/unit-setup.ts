// `npm test` runs these suites beside the ones that load the machine with the
// built apps (scripts/run-tests.js), so a test of a few hundred milliseconds
// can wait seconds for a core. How fast the code is, the benchmarks measure.
jest.setTimeout(30_000);
