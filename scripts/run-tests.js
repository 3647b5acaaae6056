#!/usr/bin/env node
// Runs the jest suites in two lanes at once (`npm test`, after the type check
// and the build): the suites that need no servers (unit, deploy), which are
// CPU-bound, beside the suites that run the built apps against servers of
// their own (integration, e2e, faults, cluster), which spend most of their
// time waiting on processes, the broker and the database. The server suites
// stay one file at a time: the fault suite stops and starts the servers they
// share. The first lane's log is printed when it ends; the last line is the
// total of both, `N passed, N failed`. Arguments go to both lanes' jest.
'use strict';
const { spawn } = require('node:child_process');
const { mkdirSync, openSync, readFileSync, rmSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const artifacts = path.join(root, 'test-artifacts');
const jestBin = path.join(root, 'node_modules/jest/bin/jest.js');
const lanes = [
  { name: 'pure', projects: ['unit', 'deploy'], log: 'jest-pure.log' },
  {
    name: 'servers',
    projects: ['integration', 'e2e', 'faults', 'cluster'],
  },
];

function runLane(lane, extraArgs) {
  const summaryFile = path.join(artifacts, `summary-${lane.name}.json`);
  rmSync(summaryFile, { force: true });
  const output = lane.log
    ? openSync(path.join(artifacts, lane.log), 'w')
    : 'inherit';
  const args = [jestBin, '--runInBand', '--passWithNoTests', ...extraArgs];
  const child = spawn(
    process.execPath,
    [...args, '--selectProjects', ...lane.projects],
    {
      cwd: root,
      env: { ...process.env, TEST_SUMMARY_FILE: summaryFile },
      stdio: ['ignore', output, output],
    },
  );
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      if (lane.log) {
        process.stderr.write(readFileSync(path.join(artifacts, lane.log)));
      }
      resolve({ lane, code: code ?? signal, summaryFile });
    });
  });
}

function summaryOf({ lane, code, summaryFile }) {
  try {
    return JSON.parse(readFileSync(summaryFile, 'utf8'));
  } catch {
    // A lane that ended before its reporter wrote (a crash, a signal) counts
    // as one failure, so the total cannot read as green.
    console.error(`The ${lane.name} lane ended (${code}) without a summary`);
    return { passed: 0, failed: 1, skipped: 0 };
  }
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const extraArgs = process.argv.slice(2);
  const results = await Promise.all(
    lanes.map((lane) => runLane(lane, extraArgs)),
  );
  const total = results.map(summaryOf).reduce((sum, counts) => ({
    passed: sum.passed + counts.passed,
    failed: sum.failed + counts.failed,
    skipped: sum.skipped + counts.skipped,
  }));
  const skipped = total.skipped ? `, ${total.skipped} skipped` : '';
  console.log(`\n${total.passed} passed, ${total.failed} failed${skipped}`);
  const failedLane = results.some((result) => result.code !== 0);
  process.exit(failedLane || total.failed > 0 ? 1 : 0);
}

void main();
