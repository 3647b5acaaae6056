import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { entryOf } from '../../scripts/dist-layout';
import { positiveInteger } from './options';
import { median } from './latency';
import { onBenchSite, ProducerProcess } from './producer-process';

/**
 * `npm run bench:batch-cost -- [--rounds 5] [--producer dist/…/main.js]`
 *
 * What big batches cost the producer's other requests: sends ten batches at
 * once and, while they are in flight, asks for `GET /v1/keys/me` again and
 * again; prints the longest such wait per round (quietest, median, worst of
 * `--rounds`). Two loads: ten batches of 100 of the largest job there is
 * (28,800 operations each, refused by counting, before any validation), and ten
 * batches of 100 jobs of 64 operations within a raised MAX_BATCH_OPERATIONS
 * (each item validated, one per event-loop turn). For scale it prints how long
 * one such batch takes alone: validating a batch in one go would hold every
 * other request about that long per batch in flight. The target: a GET waits
 * under 200 ms. The producer runs alone, on a database and queues of its own.
 */

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    producer: { type: 'string', default: entryOf('producer') },
  },
});
const TARGET_MS = 200;
const BATCHES = 10;

/**
 * A job of `own` operations and `outputs` outputs of `perOutput` each, every
 * operation invalid.
 */
function invalidItem(own: number, outputs: number, perOutput: number) {
  const operations = (count: number) =>
    Array.from({ length: count }, () => ({ op: 'blur', sigma: -1 }));
  return {
    source: { path: 'photo.jpg' },
    operations: operations(own),
    outputs: Array.from({ length: outputs }, (_, index) => ({
      name: `v${index}`,
      operations: operations(perOutput),
    })),
  };
}

const batchOf = (item: unknown) =>
  JSON.stringify({ jobs: Array.from({ length: 100 }, () => item) });

type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

/** The longest a GET /v1/keys/me waits while the batches are in flight. */
async function longestWait(
  asAdmin: Fetch,
  asReader: Fetch,
  batch: string,
  expected: number,
): Promise<number> {
  let done = false;
  const batches = Promise.all(
    Array.from({ length: BATCHES }, () =>
      asAdmin('/v1/jobs/batch', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: batch,
      }).then(async (response) => {
        await response.arrayBuffer();
        if (response.status !== expected)
          throw new Error(`a batch answered ${response.status}`);
      }),
    ),
  ).finally(() => (done = true));
  let longest = 0;
  while (!done) {
    const started = performance.now();
    const response = await asReader('/v1/keys/me');
    await response.arrayBuffer();
    if (response.status !== 200)
      throw new Error(`GET /v1/keys/me answered ${response.status}`);
    longest = Math.max(longest, performance.now() - started);
  }
  await batches;
  return longest;
}

/** Milliseconds one batch takes alone, the quietest of `rounds`. */
async function alone(asAdmin: Fetch, batch: string, rounds: number) {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    const response = await asAdmin('/v1/jobs/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: batch,
    });
    await response.arrayBuffer();
    times.push(performance.now() - started);
  }
  return Math.min(...times);
}

async function readerKey(asAdmin: Fetch): Promise<string> {
  const created = await asAdmin('/v1/keys', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'reader', scopes: ['jobs:read'] }),
  });
  if (created.status !== 201)
    throw new Error(`POST /v1/keys answered ${created.status}`);
  return ((await created.json()) as { key: string }).key;
}

async function measure(label: string, run: () => Promise<number>) {
  const rounds = positiveInteger('rounds', args.rounds);
  await run();
  const waits: number[] = [];
  for (let round = 0; round < rounds; round++) waits.push(await run());
  waits.sort((a, b) => a - b);
  const worst = waits[waits.length - 1];
  console.log(
    `${label}: a GET waited at most ${waits[0].toFixed(0)} ms (quietest round), ${median(waits).toFixed(0)} ms (median), ${worst.toFixed(0)} ms (worst)${waits[0] < TARGET_MS ? '' : ` — over the ${TARGET_MS} ms target`}`,
  );
}

/** A producer on a site of its own, with `settings`, and a JPEG to name. */
function withProducer(
  name: string,
  settings: Record<string, string>,
  body: (producer: ProducerProcess, adminKey: string) => Promise<void>,
) {
  return onBenchSite(name, async (site) => {
    await writeFile(
      join(site.folder, 'photo.jpg'),
      await sharp({
        create: { width: 32, height: 32, channels: 3, background: '#369' },
      })
        .jpeg()
        .toBuffer(),
    );
    const producer = await site.startProducer(resolve(args.producer), settings);
    await body(producer, site.adminKey);
  });
}

function fetcher(base: string, key: string): Fetch {
  return (path, init = {}) =>
    fetch(base + path, {
      ...init,
      headers: { ...init.headers, authorization: `Bearer ${key}` },
    });
}

async function main(): Promise<void> {
  const refused = batchOf(invalidItem(32, 8, 32));
  const validated = batchOf(invalidItem(32, 1, 32));
  await withProducer('batch_refused', {}, async (producer, adminKey) => {
    const asAdmin = fetcher(producer.base, adminKey);
    const asReader = fetcher(producer.base, await readerKey(asAdmin));
    await measure(
      `${BATCHES} batches of 28,800 operations at once, refused by counting`,
      () => longestWait(asAdmin, asReader, refused, 400),
    );
  });
  await withProducer(
    'batch_validated',
    { MAX_BATCH_OPERATIONS: String(100 * 64) },
    async (producer, adminKey) => {
      const asAdmin = fetcher(producer.base, adminKey);
      const asReader = fetcher(producer.base, await readerKey(asAdmin));
      await measure(
        `${BATCHES} batches of 100 jobs (6,400 operations) at once, each item validated`,
        () => longestWait(asAdmin, asReader, validated, 200),
      );
      const oneBatchMs = await alone(asAdmin, validated, 5);
      console.log(
        `for scale: one such batch alone is answered in ${oneBatchMs.toFixed(0)} ms; validated in one go, ${BATCHES} in flight would hold a GET about ${((oneBatchMs * BATCHES) / 1000).toFixed(1)} s`,
      );
    },
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
