// Ends the run with one plain line, `N passed, N failed`, that CI reads. With
// TEST_SUMMARY_FILE set (scripts/run-tests.js, which runs jest in lanes and
// prints their total) the counts are also written there as JSON, with each
// test file's duration, so that the slowest files can be named at the end, and
// each failed test's name and first lines of its error, so that the end of a
// long run says what failed.
const { writeFileSync } = require('node:fs');
const { relative } = require('node:path');

const FAILURE_LINES = 6;

/** `file › test name` and the first lines of its error, for each failure. */
function failuresOf(results, rootDir) {
  const firstLines = (text) =>
    text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(0, FAILURE_LINES)
      .join('\n');
  return results.testResults.flatMap((file) => {
    const path = relative(rootDir, file.testFilePath);
    if (file.testExecError)
      return [
        { name: path, error: firstLines(file.testExecError.message ?? '') },
      ];
    return file.testResults
      .filter((test) => test.status === 'failed')
      .map((test) => ({
        name: `${path} › ${test.fullName}`,
        error: firstLines(test.failureMessages.join('\n')),
      }));
  });
}

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
        JSON.stringify({
          passed,
          failed,
          skipped,
          files,
          failures: failuresOf(results, this.rootDir),
        }),
      );
    }
    console.log(
      `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`,
    );
  }
}
module.exports = SummaryReporter;
