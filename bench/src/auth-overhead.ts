import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { entryOf } from '../../scripts/dist-layout';
import { positiveInteger } from './options';
import { cpuTicks } from './process-cpu';
import {
  BenchSite,
  onBenchSite,
  ProducerProcess,
  stopProducer,
} from './producer-process';

/**
 * `npm run bench:auth -- [--seconds 5] [--concurrency 16]
 *   [--producer dist/…/main.js]`
 *
 * What checking API keys costs the producer: requests per second, in one run,
 * of an open route, of a route with the bootstrap admin key, and of the same
 * route with a created key (its row looked up and its digest compared), each
 * with and without the shared per-key request count; and, for scale, of
 * submitting a JSON job naming a small JPEG in the images folder (validated,
 * its header read, recorded, published and confirmed). The producer runs alone,
 * on a database and queues of its own; `--producer` runs another build of it.
 */

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    producer: {
      type: 'string',
      default: entryOf('producer'),
    },
  },
});
const PRODUCER = resolve(args.producer);
const TICKS_PER_SECOND = Number(
  execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(),
);
const seconds = Number(args.seconds);
const concurrency = positiveInteger('concurrency', args.concurrency);

/**
 * Requests per second of `path` with `key` (none: no Authorization header),
 * `concurrency` at a time; `body`: POSTed as JSON.
 */
async function rate(
  base: string,
  path: string,
  key: string | undefined,
  body?: (i: number) => unknown,
): Promise<number> {
  const headers: Record<string, string> = key
    ? { authorization: `Bearer ${key}` }
    : {};
  if (body) headers['content-type'] = 'application/json';
  const expected = body ? 202 : 200;
  let done = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const response = await fetch(
          base + path,
          body
            ? { method: 'POST', headers, body: JSON.stringify(body(done)) }
            : { headers },
        );
        await response.arrayBuffer();
        if (response.status !== expected)
          throw new Error(`${path} answered ${response.status}`);
        done++;
      }
    }),
  );
  return done / seconds;
}

function startAuthProducer(
  site: BenchSite,
  counting: boolean,
): Promise<ProducerProcess> {
  return site.startProducer(PRODUCER, {
    // A limit no run reaches: the count is kept, the answer is never 429.
    RATE_LIMIT_REQUESTS: counting ? '1000000000' : '0',
    // Nothing consumes the submitted jobs: no limit on those in flight or per
    // day.
    RATE_LIMIT_JOBS_IN_FLIGHT: '0',
    QUOTA_JOBS_PER_DAY: '0',
  });
}

/** Sixteen 64×64 JPEGs in `folder`; their names. */
function writeSmallImages(folder: string): Promise<string[]> {
  return Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const name = `small-${i}.jpg`;
      await writeFile(
        join(folder, name),
        await sharp({
          create: {
            width: 64,
            height: 64,
            channels: 3,
            background: { r: i * 15, g: 100, b: 200 },
          },
        })
          .jpeg()
          .toBuffer(),
      );
      return name;
    }),
  );
}

/** A key of the jobs scopes, created with the admin key. */
async function createJobsKey(base: string, adminKey: string): Promise<string> {
  const created = await fetch(`${base}/v1/keys`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${adminKey}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      name: 'bench',
      scopes: ['jobs:read', 'jobs:write'],
    }),
  });
  return ((await created.json()) as { key: string }).key;
}

/**
 * The rates of one producer, into `figures`; without request counting, also
 * the producer's CPU per job submitted.
 */
async function measureProducer(
  { base, child }: ProducerProcess,
  adminKey: string,
  counting: boolean,
  job: (i: number) => object,
  figures: Record<string, number>,
): Promise<string | undefined> {
  const key = await createJobsKey(base, adminKey);
  const counted = counting ? 'request counted' : 'no request count';
  await rate(base, '/health/live', undefined); // warm-up
  if (!counting)
    figures['GET /health/live, no key'] = await rate(
      base,
      '/health/live',
      undefined,
    );
  figures[`GET /v1/keys/me, bootstrap admin key, ${counted}`] = await rate(
    base,
    '/v1/keys/me',
    adminKey,
  );
  figures[`GET /v1/keys/me, created key (row lookup, digest), ${counted}`] =
    await rate(base, '/v1/keys/me', key);
  if (counting) return undefined;
  const ticksBefore = cpuTicks(child.pid!) ?? 0;
  const perSecond = await rate(base, '/v1/jobs', key, job);
  const cpuMs =
    (((cpuTicks(child.pid!) ?? 0) - ticksBefore) / TICKS_PER_SECOND) * 1000;
  figures[
    'POST /v1/jobs, JSON naming a 64×64 JPEG in the images folder, created key'
  ] = perSecond;
  return `the producer's CPU per job submitted: ${(cpuMs / (perSecond * seconds)).toFixed(3)} ms`;
}

async function main(): Promise<void> {
  const figures: Record<string, number> = {};
  let submissionCpu = '';
  await onBenchSite('auth', async (site) => {
    const images = await writeSmallImages(site.folder);
    const job = (i: number) => ({
      source: { path: images[i % images.length] },
      operations: [{ op: 'resize', width: 32 }],
      output: { format: 'jpeg' },
    });
    for (const counting of [false, true]) {
      const producer = await startAuthProducer(site, counting);
      try {
        submissionCpu =
          (await measureProducer(
            producer,
            site.adminKey,
            counting,
            job,
            figures,
          )) ?? submissionCpu;
      } finally {
        await stopProducer(producer);
      }
    }
  });
  const open = figures['GET /health/live, no key'];
  for (const [label, perSecond] of Object.entries(figures))
    console.log(
      `${label}: ${perSecond.toFixed(0)} req/s (${(perSecond / open).toFixed(2)} of the open route)`,
    );
  console.log(submissionCpu);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
