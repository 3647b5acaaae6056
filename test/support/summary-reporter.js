// Ends the run with one plain line, `N passed, N failed`, that CI reads. With
// TEST_SUMMARY_FILE set (scripts/run-tests.js, which runs two jest processes
// and prints their total) the counts are also written there as JSON.
const { writeFileSync } = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const passed = results.numPassedTests;
    if (process.env.TEST_SUMMARY_FILE) {
      writeFileSync(
        process.env.TEST_SUMMARY_FILE,
        JSON.stringify({ passed, failed, skipped }),
      );
    }
    console.log(
      `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`,
    );
  }
}
module.exports = SummaryReporter;
