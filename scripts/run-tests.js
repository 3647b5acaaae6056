#!/usr/bin/env node
// Runs the checks in two tracks at once (`npm test`, after the build). One
// track runs the suites that run the built apps against servers of their own
// (e2e, faults, cluster), one file at a time: they spend much of their time
// waiting on processes, the broker and the database, and the fault suite stops
// and starts the servers its files share. The other runs the type check, the
// lint and the suites that need no servers (unit, deploy), which are CPU-bound,
// then the integration suite (a jest run with servers of its own) and, with
// --containers, the containers check (deploy/test/containers.sh), which mostly
// waits on images and containers. A command (type check, lint, containers
// check) counts as one test. More tracks make a 2-core machine slower, not
// faster: the fault scenarios' load and the containers' health checks compete
// for the same cores. A lane's log is printed when it ends, the servers lane's
// as it goes; the last lines name the slowest test files, repeat what failed
// and give the total, `N passed, N failed`. Other arguments go to every jest
// lane.
'use strict';
const { spawn } = require('node:child_process');
const { mkdirSync, openSync, readFileSync, rmSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const artifacts = path.join(root, 'test-artifacts');
const jestBin = path.join(root, 'node_modules/jest/bin/jest.js');
const typecheckLane = {
  name: 'typecheck',
  command: ['npm', 'run', '--silent', 'typecheck'],
  log: 'typecheck.log',
};
const lintLane = {
  name: 'lint',
  command: ['npm', 'run', '--silent', 'lint'],
  log: 'lint.log',
};
const pureLane = {
  name: 'pure',
  projects: ['unit', 'deploy'],
  log: 'jest-pure.log',
};
const serversLane = {
  name: 'servers',
  projects: ['e2e', 'faults', 'cluster'],
};
const integrationLane = {
  name: 'integration',
  projects: ['integration'],
  log: 'jest-integration.log',
};
const containersLane = {
  name: 'containers',
  command: ['bash', path.join(root, 'deploy/test/containers.sh')],
  log: 'containers.log',
};

function jestCommand(lane, extraArgs) {
  return [
    process.execPath,
    jestBin,
    '--runInBand',
    '--passWithNoTests',
    ...extraArgs,
    '--selectProjects',
    ...lane.projects,
  ];
}

function runLane(lane, extraArgs) {
  const summaryFile = path.join(artifacts, `summary-${lane.name}.json`);
  rmSync(summaryFile, { force: true });
  const output = lane.log
    ? openSync(path.join(artifacts, lane.log), 'w')
    : 'inherit';
  const [command, ...args] = lane.command ?? jestCommand(lane, extraArgs);
  const startedAt = Date.now();
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, TEST_SUMMARY_FILE: summaryFile },
    stdio: ['ignore', output, output],
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      if (lane.log) {
        process.stderr.write(readFileSync(path.join(artifacts, lane.log)));
      }
      const seconds = (Date.now() - startedAt) / 1000;
      resolve({ lane, code: code ?? signal, summaryFile, seconds });
    });
  });
}

/**
 * What a command lane said when it failed: its lines that say FAILED (the
 * containers check's reason and step, ahead of the containers' logs), else its
 * last lines (the type check's or the lint's errors).
 */
function failureOf(lane, count = 15) {
  const lines = readFileSync(path.join(artifacts, lane.log), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const said = lines.filter((line) => /\bFAILED\b|failed during/.test(line));
  return (said.length > 0 ? said : lines).slice(-count).join('\n');
}

function summaryOf({ lane, code, summaryFile }) {
  if (lane.command) {
    return code === 0
      ? { passed: 1, failed: 0, skipped: 0 }
      : {
          passed: 0,
          failed: 1,
          skipped: 0,
          failures: [{ name: lane.name, error: failureOf(lane) }],
        };
  }
  try {
    return JSON.parse(readFileSync(summaryFile, 'utf8'));
  } catch {
    // A lane that ended before its reporter wrote (a crash, a signal) counts
    // as one failure, so the total cannot read as green.
    const error = `The ${lane.name} lane ended (${code}) without a summary`;
    console.error(error);
    return {
      passed: 0,
      failed: 1,
      skipped: 0,
      failures: [{ name: lane.name, error }],
    };
  }
}

// Where a run's time goes, for whoever keeps the whole run short.
function printSlowestFiles(summaries) {
  const files = summaries
    .flatMap((summary) => summary.files ?? [])
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, 8);
  if (files.length === 0) return;
  console.log('\nSlowest test files:');
  for (const file of files) {
    console.log(`  ${file.seconds.toFixed(0).padStart(5)} s  ${file.path}`);
  }
}

// What failed, repeated at the end: a long run's own output may be cut.
function printFailures(summaries) {
  const failures = summaries.flatMap((summary) => summary.failures ?? []);
  if (failures.length === 0) return;
  console.log('\nFailed:');
  for (const { name, error } of failures) {
    console.log(`  ✕ ${name}`);
    for (const line of error.split('\n')) console.log(`      ${line}`);
  }
}

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const args = process.argv.slice(2);
  const withContainers = args.includes('--containers');
  const extraArgs = args.filter((arg) => arg !== '--containers');
  const tracks = [
    [serversLane],
    [
      typecheckLane,
      lintLane,
      pureLane,
      integrationLane,
      ...(withContainers ? [containersLane] : []),
    ],
  ];
  const results = (
    await Promise.all(
      tracks.map(async (track) => {
        const ended = [];
        for (const lane of track) ended.push(await runLane(lane, extraArgs));
        return ended;
      }),
    )
  ).flat();
  const summaries = results.map(summaryOf);
  const total = summaries.reduce((sum, counts) => ({
    passed: sum.passed + counts.passed,
    failed: sum.failed + counts.failed,
    skipped: sum.skipped + counts.skipped,
  }));
  printSlowestFiles(summaries);
  const laneTimes = results.map(
    ({ lane, seconds }) => `${lane.name} ${seconds.toFixed(0)} s`,
  );
  console.log(`\nLanes: ${laneTimes.join(', ')}`);
  printFailures(summaries);
  const skipped = total.skipped ? `, ${total.skipped} skipped` : '';
  console.log(`\n${total.passed} passed, ${total.failed} failed${skipped}`);
  const failedLane = results.some((result) => result.code !== 0);
  process.exit(failedLane || total.failed > 0 ? 1 : 0);
}

void main();
