// Ends the run with one plain line, `N passed, N failed`, that CI reads. With
// TEST_SUMMARY_FILE set (scripts/run-tests.js, which runs jest in lanes and
// prints their total) the counts are also written there as JSON, with each
// test file's duration, so that the slowest files can be named at the end.
const { writeFileSync } = require('node:fs');
const { relative } = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const passed = results.numPassedTests;
    if (process.env.TEST_SUMMARY_FILE) {
      const files = results.testResults.map((file) => ({
        path: relative(this.rootDir, file.testFilePath),
        seconds: (file.perfStats.end - file.perfStats.start) / 1000,
      }));
      writeFileSync(
        process.env.TEST_SUMMARY_FILE,
        JSON.stringify({ passed, failed, skipped, files }),
      );
    }
    console.log(
      `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`,
    );
  }
}
module.exports = SummaryReporter;
