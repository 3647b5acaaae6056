#!/usr/bin/env node
// Runs the whole pipeline on one machine: migrations first, then the producer,
// the image workers and the results writer, each a separate process. A process
// that exits is restarted after a back-off, one that keeps exiting stops the
// pipeline (see supervision.js for both rules). Ctrl-C (or SIGTERM) stops them
// all.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const {
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} = require('node:fs');
const { availableParallelism } = require('node:os');
const path = require('node:path');
const { childEnv } = require('./child-env');
const {
  decideAfterExit,
  describeExit,
  freshRecord,
  parseWorkers,
  seconds,
  statusLine,
  workerIdFor,
} = require('./supervision');

const { REPOSITORY_ROOT: root, entryOf: entry } = require('./dist-layout');
let workers;
try {
  workers = parseWorkers(process.env.WORKERS, availableParallelism());
} catch (error) {
  console.error(error.message);
  process.exit(2);
}
const port = Number(process.env.PORT ?? 3000);
const env = {
  LOG_FORMAT: process.stdout.isTTY ? 'text' : 'json',
  // Two glibc malloc arenas instead of eight per core: sharp's threads
  // otherwise leave a worker's memory fragmented over many arenas, and its RSS
  // climbs with every busy hour.
  MALLOC_ARENA_MAX: '2',
  STORAGE_DIR: path.join(root, 'data/storage'),
  IMAGES_DIR: path.join(root, 'data/images'),
  ...process.env,
};
// A bucket (STORAGE_URL=s3://…) needs no folder of this machine.
if (!/^s3:\/\//.test(env.STORAGE_URL ?? ''))
  mkdirSync(env.STORAGE_DIR, { recursive: true });
mkdirSync(env.IMAGES_DIR, { recursive: true });

// The bootstrap admin key: ADMIN_API_KEY if set, else one generated once and
// kept in a file only this user can read, so that it stays the same from one
// start to the next.
const adminKeyFile = path.join(root, 'data/admin-api-key');
let adminKeySource = 'ADMIN_API_KEY';
if (!env.ADMIN_API_KEY) {
  if (!existsSync(adminKeyFile))
    writeFileSync(adminKeyFile, `${randomBytes(32).toString('base64url')}\n`, {
      mode: 0o600,
    });
  env.ADMIN_API_KEY = readFileSync(adminKeyFile, 'utf8').trim();
  adminKeySource = `${path.relative(process.cwd(), adminKeyFile) || adminKeyFile} (generated once; set ADMIN_API_KEY to use your own). For the CLI: export PIPELINE_API_KEY=$(cat ${adminKeyFile})`;
}
const metricsPort = Number(env.METRICS_PORT ?? port + workers + 2);

// Each process gets its own settings only (see child-env.js): the workers
// neither the admin key nor the database.
const migration = spawnSync(process.execPath, [entry('migrator')], {
  env: childEnv('migrator', env),
  stdio: 'inherit',
});
if (migration.status !== 0) process.exit(migration.status ?? 1);

const slots = [
  [
    'producer',
    'producer',
    { PORT: String(port), METRICS_PORT: String(metricsPort) },
  ],
  ...Array.from({ length: workers }, (_, i) => [
    `worker-${i + 1}`,
    'image-worker',
    { PORT: String(port + 1 + i) },
  ]),
  ['writer', 'results-writer', { PORT: String(port + 1 + workers) }],
].map(([name, app, extra]) => ({
  name,
  app,
  extra,
  record: freshRecord(),
  child: undefined,
  startedAt: 0,
  restartAt: undefined,
  timer: undefined,
}));

/** Children whose output has not ended yet. */
const open = new Set();
const say = (line) => console.error(`[launcher] ${line}`);
const printStatus = () =>
  say(
    statusLine(
      slots.map((slot) => ({
        name: slot.name,
        restarts: slot.record.restarts,
        restartAt: slot.restartAt,
      })),
      Date.now(),
    ),
  );

/**
 * Passes a child's lines on, each prefixed with its name; a last line without a
 * newline too.
 */
function prefix(name, stream, out) {
  let rest = '';
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) out.write(`[${name}] ${line}\n`);
  });
  stream.on('end', () => rest && out.write(`[${name}] ${rest}\n`));
}

function launch(slot) {
  const extra =
    slot.app === 'image-worker'
      ? {
          ...slot.extra,
          WORKER_ID: workerIdFor(slot.name, slot.record.restarts),
        }
      : slot.extra;
  const child = spawn(process.execPath, [entry(slot.app)], {
    env: childEnv(slot.app, env, extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  slot.child = child;
  open.add(child);
  child.on('close', () => open.delete(child));
  slot.startedAt = Date.now();
  slot.restartAt = undefined;
  prefix(slot.name, child.stdout, process.stdout);
  prefix(slot.name, child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    slot.child = undefined;
    if (!stopping) exited(slot, code, signal);
  });
}

/**
 * A child that exited on its own: restarted after its back-off, or the end of
 * the pipeline if it keeps exiting.
 */
function exited(slot, code, signal) {
  const now = Date.now();
  const { record, decision } = decideAfterExit(slot.record, {
    startedAt: slot.startedAt,
    now,
  });
  slot.record = record;
  const how = `${describeExit(code, signal)} after ${seconds(now - slot.startedAt)}`;
  if (!decision.restart) {
    say(
      `${slot.name} keeps exiting: ${decision.exits} times within ${seconds(decision.windowMs)}, the last with ${how}; stopping the pipeline (its own lines above say why)`,
    );
    stop(
      1,
      `${slot.name} kept exiting (${decision.exits} times within ${seconds(decision.windowMs)}, the last with ${describeExit(code, signal)})`,
    );
    return;
  }
  say(
    `${slot.name} exited (${how}); restart ${decision.restartNumber} in ${seconds(decision.delayMs)}`,
  );
  slot.restartAt = now + decision.delayMs;
  slot.timer = setTimeout(() => {
    slot.timer = undefined;
    launch(slot);
    const id =
      slot.app === 'image-worker'
        ? ` as ${workerIdFor(slot.name, slot.record.restarts)}`
        : '';
    say(
      `${slot.name} restarted${id} (restart ${slot.record.restarts}, pid ${slot.child.pid})`,
    );
    printStatus();
  }, decision.delayMs);
  printStatus();
}

let stopping = false;

/**
 * Stops every child (SIGTERM: each drains as it would under compose), then
 * exits with `code`.
 */
function stop(code, reason) {
  if (stopping) return;
  stopping = true;
  for (const slot of slots) clearTimeout(slot.timer);
  for (const slot of slots) slot.child?.kill('SIGTERM');
  // Waits for every child's output too, so that the reason is the last line.
  Promise.all(
    [...open].map(
      (child) => new Promise((resolve) => child.once('close', resolve)),
    ),
  ).then(() => {
    if (reason) say(`pipeline stopped: ${reason}`);
    process.exit(code);
  });
}

for (const slot of slots) launch(slot);
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
console.log(
  `Pipeline starting: API and dashboard on http://127.0.0.1:${port} (docs at /docs, producer metrics on :${metricsPort}/metrics), ${workers} workers; images folder ${env.IMAGES_DIR}`,
);
console.log(`Admin API key: from ${adminKeySource}`);
