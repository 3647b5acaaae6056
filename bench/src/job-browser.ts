import 'reflect-metadata';
import { migrate } from '@pipeline/database';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { entryOf } from '../../scripts/dist-layout';
import { positiveInteger } from './options';
import { BENCH_ERROR_CODES, BENCH_KEYS, fillJobs } from './job-browser-fill';
import { median, percentile } from './latency';
import { onBenchSite, ProducerProcess } from './producer-process';

/**
 * `npm run bench:browser -- [--jobs 100000] [--rounds 30]
 *   [--producer dist/…/main.js]`
 *
 * What the dashboard's job browser waits for with a large table: fills a
 * database of its own (dropped at the end) with `--jobs` jobs, their outputs
 * and timelines, starts a producer on it, and times each request the browser
 * makes through the real HTTP API: the first page, filtered pages, a deep page
 * reached by its cursor, an id search, a job's page (the job and its timeline,
 * fetched together as the page does) and a preview. Prints the median and p95
 * of `--rounds` requests each; the target is under 300 ms.
 */

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '30' },
    producer: { type: 'string', default: entryOf('producer') },
  },
});
const TARGET_MS = 300;

type Get = (path: string) => Promise<Response>;

/** Milliseconds of `rounds` loads, after two that warm up. */
async function timeLoads(load: () => Promise<unknown>, rounds: number) {
  for (let i = 0; i < 2; i++) await load();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await load();
    times.push(performance.now() - start);
  }
  return times;
}

/** A JSON answer (200 expected), with the next page's cursor. */
async function page(get: Get, path: string) {
  const response = await get(path);
  if (response.status !== 200)
    throw new Error(
      `${path} answered ${response.status}: ${await response.text()}`,
    );
  const jobs = (await response.json()) as Array<{ id: string }>;
  return { jobs, next: response.headers.get('next-cursor') };
}

/** The cursor of the page after the first `depth` jobs, newest first. */
async function cursorAt(get: Get, depth: number): Promise<string> {
  let cursor = '';
  for (let seen = 0; seen < depth; seen += 500) {
    const { next } = await page(
      get,
      `/v1/jobs?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
    );
    if (!next) throw new Error(`fewer than ${depth} jobs`);
    cursor = next;
  }
  return cursor;
}

/** The requests the browser makes, by what the operator does. */
async function scenarios(get: Get, jobs: number) {
  const { jobs: first } = await page(get, '/v1/jobs?limit=50');
  const job = first.find((candidate) => candidate) ?? { id: '' };
  const succeeded = (await page(get, '/v1/jobs?status=succeeded&limit=1'))
    .jobs[0];
  const deep = await cursorAt(get, Math.floor((jobs * 0.8) / 500) * 500);
  const week = new Date(Date.now() - 14 * 86_400_000).toISOString();
  const weekEnd = new Date(Date.now() - 7 * 86_400_000).toISOString();
  const json = (path: string) => () => page(get, path);
  return {
    'first page (50 jobs)': json('/v1/jobs?limit=50'),
    'failed, one error code': json(
      `/v1/jobs?status=failed&errorCode=${BENCH_ERROR_CODES[2]}&limit=50`,
    ),
    'one API key, one week': json(
      `/v1/jobs?apiKeyId=${BENCH_KEYS[3]}&createdFrom=${week}&createdTo=${weekEnd}&limit=50`,
    ),
    'stuck only': json('/v1/jobs?stuck=true&limit=50'),
    'id search (first 6 digits)': json(
      `/v1/jobs?idPrefix=${job.id.slice(0, 6)}&limit=50`,
    ),
    [`deep page (past ${Math.floor((jobs * 0.8) / 500) * 500} jobs, by cursor)`]:
      json(`/v1/jobs?limit=50&cursor=${deep}`),
    'job page (the job and its timeline)': () =>
      Promise.all([
        get(`/v1/jobs/${succeeded.id}`).then((r) => r.json()),
        get(`/v1/jobs/${succeeded.id}/events`).then((r) => r.json()),
      ]),
    'output preview (1600×1067 JPEG to 256 px WebP)': async () => {
      const response = await get(
        `/v1/jobs/${succeeded.id}/result/default/preview`,
      );
      if (response.status !== 200)
        throw new Error(`preview answered ${response.status}`);
      await response.arrayBuffer();
    },
  };
}

/** A real output file for the newest succeeded job, for its preview. */
async function storeOutput(get: Get, storageDir: string): Promise<void> {
  const job = (await page(get, '/v1/jobs?status=succeeded&limit=1')).jobs[0];
  const path = join(storageDir, 'outputs', `${job.id}.1`, 'default');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(
    path,
    await sharp({
      create: {
        width: 1600,
        height: 1067,
        channels: 3,
        background: { r: 40, g: 120, b: 200 },
      },
    })
      .jpeg()
      .toBuffer(),
  );
}

async function measure(
  producer: ProducerProcess,
  adminKey: string,
  storageDir: string,
  jobs: number,
) {
  const get: Get = (path) =>
    fetch(producer.base + path, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
  await storeOutput(get, storageDir);
  const rounds = positiveInteger('rounds', args.rounds);
  const lines: string[] = [];
  for (const [label, load] of Object.entries(await scenarios(get, jobs))) {
    const times = (await timeLoads(load, rounds)).sort((a, b) => a - b);
    const p95 = percentile(times, 95);
    lines.push(
      `${label}: median ${median(times).toFixed(1)} ms, p95 ${p95.toFixed(1)} ms${p95 < TARGET_MS ? '' : ` — over the ${TARGET_MS} ms target`}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const jobs = positiveInteger('jobs', args.jobs);
  await onBenchSite('browser', async (site) => {
    await migrate({ connectionString: site.databaseUrl });
    const filling = performance.now();
    await fillJobs(site.databaseUrl, jobs);
    console.log(
      `filled ${jobs} jobs, their outputs and events in ${((performance.now() - filling) / 1000).toFixed(1)} s`,
    );
    const producer = await site.startProducer(resolve(args.producer));
    const storage = join(site.folder, 'storage');
    for (const line of await measure(producer, site.adminKey, storage, jobs))
      console.log(line);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
