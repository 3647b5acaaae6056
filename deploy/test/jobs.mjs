#!/usr/bin/env node
// The HTTP side of deploy/test/containers.sh: submits photos to the producer's
// published port and follows the jobs through the API. Plain Node.js (18+:
// fetch, FormData, Blob), no dependencies but sharp from the repository's
// node_modules when it has to make photos.
//
//   node jobs.mjs submit   --base URL --count N --profile light|heavy
//                          --images DIR --ids FILE
//   node jobs.mjs wait     --base URL --ids FILE --timeout S
//                          (prints a JSON report)
//   node jobs.mjs midbatch --base URL --ids FILE --timeout S
//                          (prints a busy worker's id)
//   node jobs.mjs stats    --base URL
//
// Every request goes to --base (127.0.0.1) with the API key in
// $PIPELINE_API_KEY; counts and times are bounded.
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAX_JOBS = 200;
const PROFILES = {
  // Quick: phase 1, every worker takes a share.
  light: {
    operations: [{ op: 'resize', width: 1024 }],
    output: { format: 'webp', quality: 80 },
  },
  // About a second of one core per photo: phase 2 lasts long enough to stop a
  // worker inside it.
  heavy: {
    operations: [
      { op: 'resize', width: 1600, fit: 'inside' },
      { op: 'blur', sigma: 6 },
    ],
    output: { format: 'avif', quality: 50 },
  },
};

function options(argv) {
  const result = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--'))
      throw new Error(`unexpected argument ${argv[i]}`);
    result[argv[i].slice(2)] = argv[i + 1];
  }
  return result;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function request(base, path, init = {}) {
  const headers = {
    ...init.headers,
    authorization: `Bearer ${process.env.PIPELINE_API_KEY}`,
  };
  const response = await fetch(new URL(path, base), {
    ...init,
    headers,
    signal: AbortSignal.timeout(30_000),
  });
  const type = response.headers.get('content-type') ?? '';
  const body = type.includes('json')
    ? await response.json()
    : Buffer.from(await response.arrayBuffer());
  return { status: response.status, type, body };
}

/**
 * The photos to send: the fixtures when there are any, else JPEGs made with
 * sharp.
 */
async function photos(dir) {
  if (dir && existsSync(dir)) {
    const names = readdirSync(dir)
      .filter((name) => /\.(jpe?g|png|webp)$/i.test(name))
      .sort();
    if (names.length > 0)
      return names.map((name) => ({
        name,
        bytes: readFileSync(join(dir, name)),
      }));
  }
  const sharp = createRequire(join(repo, 'package.json'))('sharp');
  const made = [];
  for (let i = 0; i < 6; i++) {
    const bytes = await sharp({
      create: {
        width: 1600 + 160 * i,
        height: 1200,
        channels: 3,
        noise: { type: 'gaussian', mean: 100 + 10 * i, sigma: 40 },
      },
    })
      .jpeg({ quality: 85 })
      .toBuffer();
    made.push({ name: `generated-${i}.jpg`, bytes });
  }
  return made;
}

async function submit(o) {
  const count = Number(o.count);
  if (!(count > 0 && count <= MAX_JOBS))
    throw new Error(`--count must be 1..${MAX_JOBS}`);
  const profile = PROFILES[o.profile];
  if (!profile)
    throw new Error(
      `--profile must be one of ${Object.keys(PROFILES).join(', ')}`,
    );
  const images = await photos(o.images);
  const ids = new Array(count);
  const errors = [];
  let next = 0;
  async function sender() {
    while (next < count) {
      const i = next++;
      const image = images[i % images.length];
      const form = new FormData();
      form.append(
        'image',
        new Blob([image.bytes], { type: 'image/jpeg' }),
        image.name,
      );
      form.append('operations', JSON.stringify(profile.operations));
      form.append('output', JSON.stringify(profile.output));
      const { status, body } = await request(o.base, '/v1/jobs', {
        method: 'POST',
        body: form,
      });
      if (status === 202 && body.id) ids[i] = body.id;
      else
        errors.push(
          `job ${i} (${image.name}): HTTP ${status} ${JSON.stringify(body).slice(0, 200)}`,
        );
    }
  }
  await Promise.all(Array.from({ length: 6 }, sender));
  writeFileSync(o.ids, ids.filter(Boolean).join('\n') + '\n');
  console.log(
    `submitted ${ids.filter(Boolean).length}/${count} ${o.profile} jobs (${images.length} distinct photos${images[0].name.startsWith('generated') ? ', generated' : ''})`,
  );
  if (errors.length) {
    console.error(errors.join('\n'));
    process.exit(1);
  }
}

function readIds(file) {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/**
 * All recent jobs by id, in one request (the stack is fresh: well under the
 * limit of 500).
 */
async function jobsById(base) {
  const { status, body } = await request(base, '/v1/jobs?limit=500');
  if (status !== 200) throw new Error(`GET /v1/jobs: HTTP ${status}`);
  return new Map(body.map((job) => [job.id, job]));
}

async function wait(o) {
  const ids = readIds(o.ids);
  const deadline = Date.now() + Number(o.timeout) * 1000;
  let byId = new Map();
  for (;;) {
    byId = await jobsById(o.base);
    const open = ids.filter(
      (id) => !['succeeded', 'failed'].includes(byId.get(id)?.status),
    );
    if (open.length === 0 || Date.now() > deadline) break;
    await sleep(500);
  }
  // Each job on its own, and its result's bytes: what a client would see.
  const report = {
    accepted: ids.length,
    succeeded: 0,
    failed: 0,
    unfinished: 0,
    resultsChecked: 0,
    workers: {},
    problems: [],
  };
  for (const id of ids) {
    const { status, body: job } = await request(o.base, `/v1/jobs/${id}`);
    if (status !== 200) {
      report.unfinished++;
      report.problems.push(`${id}: GET answered ${status}`);
      continue;
    }
    if (job.status === 'succeeded') {
      report.succeeded++;
      report.workers[job.workerId] = (report.workers[job.workerId] ?? 0) + 1;
      const result = await request(o.base, `/v1/jobs/${id}/result`);
      const expected = `image/${job.output.format}`;
      if (
        result.status === 200 &&
        result.type.startsWith(expected) &&
        result.body.length === job.output.sizeBytes
      )
        report.resultsChecked++;
      else
        report.problems.push(
          `${id}: result HTTP ${result.status} ${result.type} ${result.body.length} bytes, expected ${expected} ${job.output.sizeBytes}`,
        );
    } else if (job.status === 'failed') {
      report.failed++;
      report.problems.push(`${id}: failed ${JSON.stringify(job.error)}`);
    } else {
      report.unfinished++;
      report.problems.push(
        `${id}: still ${job.status} (attempt ${job.attempt})`,
      );
    }
  }
  console.log(JSON.stringify(report));
}

/**
 * Waits until the batch is under way (some done, many left) and names a worker
 * holding jobs.
 */
async function midbatch(o) {
  const ids = readIds(o.ids);
  const deadline = Date.now() + Number(o.timeout) * 1000;
  while (Date.now() < deadline) {
    const byId = await jobsById(o.base);
    const jobs = ids.map((id) => byId.get(id)).filter(Boolean);
    const done = jobs.filter(
      (job) => job.status === 'succeeded' || job.status === 'failed',
    ).length;
    const busy = {};
    for (const job of jobs)
      if (job.status === 'processing' && job.workerId)
        busy[job.workerId] = (busy[job.workerId] ?? 0) + 1;
    const [worker] = Object.entries(busy).sort((a, b) => b[1] - a[1])[0] ?? [];
    if (done >= 1 && ids.length - done >= ids.length / 3 && worker) {
      console.log(
        JSON.stringify({
          worker,
          processing: busy[worker],
          done,
          total: ids.length,
        }),
      );
      return;
    }
    if (done > ids.length / 2) break;
    await sleep(200);
  }
  console.error(
    'the batch finished (or never started) before a worker could be stopped in the middle of it',
  );
  process.exit(1);
}

async function stats(o) {
  const { status, body } = await request(o.base, '/v1/stats');
  if (status !== 200) throw new Error(`GET /v1/stats: HTTP ${status}`);
  console.log(JSON.stringify(body));
}

const [command, ...rest] = process.argv.slice(2);
const commands = { submit, wait, midbatch, stats };
if (!commands[command]) {
  console.error(
    `usage: jobs.mjs ${Object.keys(commands).join('|')} --base URL ...`,
  );
  process.exit(2);
}
commands[command](options(rest)).catch((error) => {
  console.error(`jobs.mjs ${command}: ${error.message}`);
  process.exit(1);
});
