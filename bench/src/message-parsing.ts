import 'reflect-metadata';
import {
  imageJobMessage,
  jobEventId,
  parseImageJobMessage,
  parseJobEventMessage,
  parseWorkerHeartbeat,
} from '@pipeline/contracts';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { WORKLOADS } from './workloads';

/**
 * `npm run bench:messages -- [--seconds 2]`
 *
 * Parses per second of the internal messages the image workers and the results
 * writer check on every delivery: a job message as the tiny and variants
 * workloads send it, a succeeded event, and a heartbeat. Each is parsed from a
 * fresh `JSON.parse` of its text, as the transport hands it over.
 */

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '2' } },
});
const seconds = Number(args.seconds);

const jobId = randomUUID();
const createdAt = new Date();
const source = { kind: 'upload', key: `uploads/${jobId}` } as const;
const tinyJob = imageJobMessage(
  {
    id: jobId,
    source,
    operations: [{ op: 'resize', width: 320 }],
    output: { format: 'jpeg', quality: 80 },
    createdAt,
  },
  1,
);
const variantsJob = imageJobMessage(
  {
    id: jobId,
    source,
    operations: [],
    output: {},
    // The variants workload's first two outputs.
    variants: WORKLOADS.variants.variants!.slice(0, 2),
    createdAt,
  },
  1,
);
const succeeded = {
  eventId: jobEventId(jobId, 1, 'succeeded', 1),
  jobId,
  type: 'succeeded',
  attempt: 1,
  delivery: 1,
  workerId: 'worker-1',
  at: new Date().toISOString(),
  startedAt: createdAt.toISOString(),
  outputs: [
    {
      name: 'default',
      key: `outputs/${jobId}/1/default`,
      format: 'jpeg',
      width: 320,
      height: 320,
      sizeBytes: 12_345,
    },
  ],
};
const heartbeat = {
  workerId: 'worker-1',
  host: 'bench',
  pid: 4242,
  startedAt: createdAt.toISOString(),
  at: new Date().toISOString(),
  jobsSucceeded: 10,
  jobsFailed: 0,
  inFlight: 3,
  stopping: false,
};

function parsesPerSecond(
  message: object,
  parse: (raw: unknown) => unknown,
): number {
  const text = JSON.stringify(message);
  // Warm up so the figure is of optimised code.
  for (let i = 0; i < 2_000; i++) parse(JSON.parse(text));
  let done = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 500; i++) parse(JSON.parse(text));
    done += 500;
    now = process.hrtime.bigint();
  }
  return done / (Number(now - start) / 1e9);
}

const cases: Array<[string, object, (raw: unknown) => unknown]> = [
  ['job message (tiny: one resize, jpeg)', tinyJob, parseImageJobMessage],
  ['job message (two variants)', variantsJob, parseImageJobMessage],
  ['succeeded event', succeeded, parseJobEventMessage],
  ['worker heartbeat', heartbeat, parseWorkerHeartbeat],
  ['JSON.parse alone (tiny job text)', tinyJob, () => undefined],
];
for (const [label, message, parse] of cases) {
  console.log(
    `${label.padEnd(40)} ${Math.round(parsesPerSecond(message, parse)).toLocaleString('en').padStart(12)} parses/s`,
  );
}
