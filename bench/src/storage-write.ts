import {
  BlobStorage,
  FilesystemBlobStorage,
  StorageKeys,
} from '@pipeline/storage';
import { createHook } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { positiveInteger } from './options';
import { mainThreadCpuNs } from './process-cpu';

/**
 * `npm run bench:storage -- [--seconds 5] [--size 65536] [--dir /tmp]`
 *
 * What a durable write of one object costs: file system requests per put
 * (counted in a phase of their own, as counting slows them down), puts per
 * second and CPU per put (the whole process, and its main thread alone: the
 * event loop a worker shares with its jobs), for one and for eight puts at a
 * time, into a new folder under `--dir`. `putIfAbsent` writes each object into
 * a folder of its own, as a worker stores a job's output; `put` writes them all
 * into one folder, as the producer stores uploads.
 */

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    size: { type: 'string', default: '65536' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const seconds = Number(args.seconds);
const data = randomBytes(positiveInteger('size', args.size));

type Write = (storage: BlobStorage, n: number) => Promise<unknown>;
const WRITES: Record<string, Write> = {
  'putIfAbsent, a folder per object': (storage, n) =>
    storage.putIfAbsent(StorageKeys.output(`job-${n}`, 1, 'default'), data),
  'put, one folder': (storage, n) =>
    storage.put(StorageKeys.upload(`job-${n}`), data),
};

interface Figures {
  fsCallsPerPut: number;
  putsPerSecond: number;
  cpuMsPerPut: number;
  mainThreadCpuMsPerPut: number;
}

async function measure(write: Write, concurrency: number): Promise<Figures> {
  const folder = await mkdtemp(join(args.dir, 'bench-storage-'));
  try {
    const storage = new FilesystemBlobStorage(folder);
    let next = 0;
    const run = async (until: number) => {
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (Date.now() < until) await write(storage, next++);
        }),
      );
    };
    await run(Date.now() + 500); // warm-up
    const fsCallsPerPut = await countFsCalls(async () => {
      const start = next;
      await run(Date.now() + 500);
      return next - start;
    });
    const before = {
      puts: next,
      at: process.hrtime.bigint(),
      cpu: process.cpuUsage(),
      mainThread: mainThreadCpuNs(),
    };
    await run(Date.now() + seconds * 1000);
    const puts = next - before.puts;
    const elapsedSeconds = Number(process.hrtime.bigint() - before.at) / 1e9;
    const cpu = process.cpuUsage(before.cpu);
    return {
      fsCallsPerPut,
      putsPerSecond: puts / elapsedSeconds,
      cpuMsPerPut: (cpu.user + cpu.system) / 1000 / puts,
      mainThreadCpuMsPerPut:
        (mainThreadCpuNs() - before.mainThread) / 1e6 / puts,
    };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * The async resources of a file system request, by any of fs's APIs (a
 * FileHandle's close has one of its own).
 */
const FS_REQUESTS = new Set([
  'FSREQCALLBACK',
  'FSREQPROMISE',
  'FILEHANDLECLOSEREQ',
]);

/**
 * File system requests (each one a trip to libuv's pool, and a callback or a
 * promise back) per put of `puts()`.
 */
async function countFsCalls(puts: () => Promise<number>): Promise<number> {
  let calls = 0;
  const hook = createHook({
    init: (_id, type) => {
      if (FS_REQUESTS.has(type)) calls++;
    },
  }).enable();
  try {
    const done = await puts();
    return calls / done;
  } finally {
    hook.disable();
  }
}

async function main(): Promise<void> {
  console.log(`${data.length} B objects, ${seconds} s a run, into ${args.dir}`);
  for (const [label, write] of Object.entries(WRITES)) {
    for (const concurrency of [1, 8]) {
      const figures = await measure(write, concurrency);
      console.log(
        `${label}, ${concurrency} at a time: ${figures.fsCallsPerPut.toFixed(1)} fs calls per put, ${figures.putsPerSecond.toFixed(0)} puts/s, CPU ${figures.cpuMsPerPut.toFixed(3)} ms per put (main thread ${figures.mainThreadCpuMsPerPut.toFixed(3)} ms)`,
      );
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
