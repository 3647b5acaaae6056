#!/usr/bin/env node
// Runs the whole pipeline on one machine: migrations first, then the producer, the image
// workers and the results writer, each a separate process. Ctrl-C (or SIGTERM) stops them all.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { childEnv } = require('./child-env');

const root = path.resolve(__dirname, '..');
const entry = (app) => path.join(root, 'dist/apps', app, 'apps', app, 'src/main.js');
const workers = Number(process.env.WORKERS ?? 2);
const port = Number(process.env.PORT ?? 3000);
const env = {
  LOG_FORMAT: process.stdout.isTTY ? 'text' : 'json',
  // Two glibc malloc arenas instead of eight per core: sharp's threads otherwise leave a worker's
  // memory fragmented over many arenas, and its RSS climbs with every busy hour.
  MALLOC_ARENA_MAX: '2',
  STORAGE_DIR: path.join(root, 'data/storage'),
  IMAGES_DIR: path.join(root, 'data/images'),
  ...process.env,
};
// A bucket (STORAGE_URL=s3://…) needs no folder of this machine.
if (!/^s3:\/\//.test(env.STORAGE_URL ?? '')) mkdirSync(env.STORAGE_DIR, { recursive: true });
mkdirSync(env.IMAGES_DIR, { recursive: true });

// The bootstrap admin key: ADMIN_API_KEY if set, else one generated once and kept in a file
// only this user can read, so that it stays the same from one start to the next.
const adminKeyFile = path.join(root, 'data/admin-api-key');
let adminKeySource = 'ADMIN_API_KEY';
if (!env.ADMIN_API_KEY) {
  if (!existsSync(adminKeyFile)) writeFileSync(adminKeyFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  env.ADMIN_API_KEY = readFileSync(adminKeyFile, 'utf8').trim();
  adminKeySource = `${path.relative(process.cwd(), adminKeyFile) || adminKeyFile} (generated once; set ADMIN_API_KEY to use your own). For the CLI: export PIPELINE_API_KEY=$(cat ${adminKeyFile})`;
}
const metricsPort = Number(env.METRICS_PORT ?? port + workers + 2);

// Each process gets its own settings only (see child-env.js): the workers neither the admin key nor the database.
const migration = spawnSync(process.execPath, [entry('migrator')], { env: childEnv('migrator', env), stdio: 'inherit' });
if (migration.status !== 0) process.exit(migration.status ?? 1);

const processes = [
  ['producer', 'producer', { PORT: String(port), METRICS_PORT: String(metricsPort) }],
  ...Array.from({ length: workers }, (_, i) => [`worker-${i + 1}`, 'image-worker', { PORT: String(port + 1 + i), WORKER_ID: `worker-${i + 1}` }]),
  ['writer', 'results-writer', { PORT: String(port + 1 + workers) }],
];

let stopping = false;
const children = processes.map(([name, app, extra]) => {
  const child = spawn(process.execPath, [entry(app)], { env: childEnv(app, env, extra), stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (stream, out) => {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) out.write(`[${name}] ${line}\n`);
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[${name}] exited (${signal ?? code}); stopping the pipeline`);
      stop(code || 1);
    }
  });
  return child;
});

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  let alive = children.length;
  for (const child of children) {
    if (child.exitCode !== null) alive--;
    else child.on('exit', () => --alive === 0 && process.exit(code));
  }
  if (alive === 0) process.exit(code);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
console.log(`Pipeline starting: API and dashboard on http://127.0.0.1:${port} (docs at /docs, producer metrics on :${metricsPort}/metrics), ${workers} workers; images folder ${env.IMAGES_DIR}`);
console.log(`Admin API key: from ${adminKeySource}`);
