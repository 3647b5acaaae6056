import {
  BlobNotFoundError,
  BlobStorage,
  sha256Hex,
  StorageKeys,
} from '@pipeline/storage';
import { Readable, Transform } from 'node:stream';

/** A store under test, empty at the start of each test. */
export interface ContractSubject {
  storage: BlobStorage;
  /**
   * Everything the store holds, sorted: the objects' keys, and whatever a write
   * left on the side (a folder's temporary files, an object store's unfinished
   * multipart uploads), so that "leaves nothing" means nothing at all.
   */
  leftovers: () => Promise<string[]>;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** A stream that sends `good` chunks and then fails. */
export function failingStream(good: Buffer[], error: Error): Readable {
  let index = 0;
  return new Readable({
    read() {
      if (index < good.length) {
        this.push(good[index++]);
      } else {
        setImmediate(() => this.destroy(error));
      }
    },
  });
}

/**
 * Bytes that differ along their length (a constant fill would hide a part
 * stored twice or left out).
 */
export function patterned(size: number, seed = 1): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4)
    data.writeUInt32LE((i * 2654435761 + seed) >>> 0, Math.min(i, size - 4));
  return data;
}

/**
 * What every BlobStorage must do, whatever keeps the bytes: one suite, run
 * against the folder store and against an object store (a real Ceph RGW), so
 * that the pipeline above can take either.
 */
export function blobStorageContract(
  name: string,
  subject: () => ContractSubject,
): void {
  describe(`${name}: the BlobStorage contract`, () => {
    let storage: BlobStorage;
    let leftovers: () => Promise<string[]>;
    beforeEach(() => {
      ({ storage, leftovers } = subject());
    });

    describe('put and read', () => {
      it('stores a Buffer and reads it back', async () => {
        const data = Buffer.from('hello, storage');
        expect(await storage.put('outputs/job-1', data)).toEqual({
          sizeBytes: data.length,
        });
        expect(await storage.read('outputs/job-1')).toEqual(data);
        expect(await leftovers()).toEqual(['outputs/job-1']);
      });

      it('stores a Readable and reads it back', async () => {
        const chunks = [
          Buffer.alloc(70_000, 1),
          Buffer.from('middle'),
          Buffer.alloc(10, 7),
        ];
        const expected = Buffer.concat(chunks);
        expect(
          await storage.put('uploads/job-2', Readable.from(chunks)),
        ).toEqual({ sizeBytes: expected.length });
        expect(await storage.read('uploads/job-2')).toEqual(expected);
      });

      it('streams a large upload in and out byte for byte (an object store takes it in parts)', async () => {
        const data = patterned(12 * 1024 * 1024 + 12_345);
        const chunks = Array.from(
          { length: Math.ceil(data.length / 65_536) },
          (_, index) => data.subarray(index * 65_536, (index + 1) * 65_536),
        );
        expect(
          await storage.put('uploads/large', Readable.from(chunks)),
        ).toEqual({ sizeBytes: data.length });
        const { stream, sizeBytes } =
          await storage.openReadStream('uploads/large');
        expect(sizeBytes).toBe(data.length);
        expect((await readAll(stream)).equals(data)).toBe(true);
        expect(await leftovers()).toEqual(['uploads/large']);
        // 12 MiB written durably: on a disk busy with other suites' flushes
        // that takes longer than jest's default 5 s.
      }, 60_000);

      it('stores an empty object', async () => {
        expect(await storage.put('uploads/empty', Buffer.alloc(0))).toEqual({
          sizeBytes: 0,
        });
        expect(await storage.sizeOf('uploads/empty')).toBe(0);
        expect(await storage.read('uploads/empty')).toEqual(Buffer.alloc(0));
      });

      it('replaces what was stored under the key', async () => {
        await storage.put('outputs/x', Buffer.from('first, longer content'));
        await storage.put('outputs/x', Buffer.from('second'));
        expect((await storage.read('outputs/x')).toString()).toBe('second');
        expect(await storage.sizeOf('outputs/x')).toBe(6);
      });

      it('keeps objects under different keys apart', async () => {
        await storage.put(StorageKeys.upload('j1'), Buffer.from('upload'));
        await storage.put(
          StorageKeys.output('j1', 1, 'default'),
          Buffer.from('output'),
        );
        await storage.put('a/b/c/d.bin', Buffer.from([1, 2, 3]));
        expect((await storage.read('uploads/j1')).toString()).toBe('upload');
        expect((await storage.read('outputs/j1.1/default')).toString()).toBe(
          'output',
        );
        expect(await storage.read('a/b/c/d.bin')).toEqual(
          Buffer.from([1, 2, 3]),
        );
        expect(await leftovers()).toEqual([
          'a/b/c/d.bin',
          'outputs/j1.1/default',
          'uploads/j1',
        ]);
      });

      it('handles concurrent writes of different keys', async () => {
        const keys = Array.from(
          { length: 10 },
          (_, index) => `outputs/job-${index}`,
        );
        await Promise.all(
          keys.map((key, index) =>
            storage.put(key, Buffer.alloc(100 + index, index)),
          ),
        );
        for (const [index, key] of keys.entries())
          expect(await storage.sizeOf(key)).toBe(100 + index);
        expect(await leftovers()).toHaveLength(10);
      });
    });

    describe('putIfAbsent', () => {
      it('stores the bytes under a new key', async () => {
        const data = Buffer.from('first outcome');
        expect(await storage.putIfAbsent('outputs/j.1/default', data)).toEqual({
          created: true,
          sizeBytes: data.length,
        });
        expect(await storage.read('outputs/j.1/default')).toEqual(data);
        expect(await leftovers()).toEqual(['outputs/j.1/default']);
      });

      it('stores a Readable under a new key', async () => {
        const chunks = [Buffer.alloc(70_000, 3), Buffer.from('tail')];
        expect(
          await storage.putIfAbsent('outputs/streamed', Readable.from(chunks)),
        ).toEqual({ created: true, sizeBytes: 70_004 });
        expect(await storage.read('outputs/streamed')).toEqual(
          Buffer.concat(chunks),
        );
      });

      it('leaves an object already stored under the key as it was, and gives its size', async () => {
        await storage.put(
          'outputs/kept',
          Buffer.from('the first, longer bytes'),
        );
        expect(
          await storage.putIfAbsent('outputs/kept', Buffer.from('other')),
        ).toEqual({ created: false, sizeBytes: 23 });
        expect(
          await storage.putIfAbsent(
            'outputs/kept',
            Readable.from([Buffer.from('other')]),
          ),
        ).toEqual({ created: false, sizeBytes: 23 });
        expect((await storage.read('outputs/kept')).toString()).toBe(
          'the first, longer bytes',
        );
        expect(await leftovers()).toEqual(['outputs/kept']);
      });

      it('lets exactly one of many concurrent writers of a key store its whole bytes', async () => {
        const writers = Array.from({ length: 12 }, (_, index) =>
          Buffer.alloc(50_000 + index * 1000, index + 1),
        );
        const results = await Promise.all(
          writers.map((data) =>
            storage.putIfAbsent('outputs/raced/default', data),
          ),
        );
        const winners = results.flatMap((result, index) =>
          result.created ? [index] : [],
        );
        expect(winners).toHaveLength(1);
        const stored = await storage.read('outputs/raced/default');
        expect(stored.equals(writers[winners[0]])).toBe(true);
        expect(results.map((result) => result.sizeBytes)).toEqual(
          writers.map(() => stored.length),
        );
        expect(await leftovers()).toEqual(['outputs/raced/default']);
      });

      it('rejects with the error of a failing stream, leaving no object', async () => {
        const failure = new Error('source went away');
        await expect(
          storage.putIfAbsent(
            'outputs/partial',
            failingStream([Buffer.alloc(20_000, 1)], failure),
          ),
        ).rejects.toBe(failure);
        expect(await storage.sizeOf('outputs/partial')).toBeNull();
        expect(await leftovers()).toEqual([]);
      });

      it('keeps, where the store can, the checksum it was given, and gives it back with the bytes', async () => {
        const data = Buffer.from('checked output');
        const real = sha256Hex(data);
        await storage.putIfAbsent('outputs/c.1/default', data, {
          sha256: real,
        });
        const { stream, sha256: kept } = await storage.openReadStream(
          'outputs/c.1/default',
        );
        expect(await readAll(stream)).toEqual(data);
        expect([null, real]).toContain(kept);
      });

      it("creates an attempt's output beside an object stored under the job id alone (the layout before attempts)", async () => {
        await storage.put(
          'outputs/legacy-job',
          Buffer.from('attempt 1, old layout'),
        );
        expect(
          await storage.putIfAbsent(
            StorageKeys.output('legacy-job', 2, 'default'),
            Buffer.from('attempt 2'),
          ),
        ).toMatchObject({ created: true });
        expect((await storage.read('outputs/legacy-job')).toString()).toBe(
          'attempt 1, old layout',
        );
        expect(
          (await storage.read('outputs/legacy-job.2/default')).toString(),
        ).toBe('attempt 2');
      });
    });

    describe('sizeOf', () => {
      it('gives the size of a stored object, and null for a missing one', async () => {
        await storage.put('outputs/s', Buffer.alloc(1234));
        expect(await storage.sizeOf('outputs/s')).toBe(1234);
        expect(await storage.sizeOf('outputs/missing')).toBeNull();
        expect(await storage.sizeOf('nothing-here/at-all')).toBeNull();
      });
    });

    describe('read of a missing object', () => {
      it('throws BlobNotFoundError naming the key, from read and from openReadStream', async () => {
        const error = await storage
          .read('outputs/missing')
          .catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(BlobNotFoundError);
        expect((error as BlobNotFoundError).key).toBe('outputs/missing');
        expect((error as Error).message).toBe(
          'No stored object at outputs/missing',
        );
        await expect(
          storage.openReadStream('outputs/none'),
        ).rejects.toBeInstanceOf(BlobNotFoundError);
      });
    });

    describe('openReadStream', () => {
      it('streams a stored object and gives its size', async () => {
        const data = patterned(100_000);
        await storage.put('outputs/big', data);
        const { stream, sizeBytes } =
          await storage.openReadStream('outputs/big');
        expect(sizeBytes).toBe(data.length);
        expect(await readAll(stream)).toEqual(data);
      });

      it('reads a range of bytes, both ends included, and gives the size of the whole object', async () => {
        const data = patterned(100_000, 7);
        await storage.put('outputs/ranged', data);
        const { stream, sizeBytes } = await storage.openReadStream(
          'outputs/ranged',
          { start: 1000, end: 65_535 },
        );
        expect(sizeBytes).toBe(data.length);
        expect(
          (await readAll(stream)).equals(data.subarray(1000, 65_536)),
        ).toBe(true);
      });
    });

    describe('deleteMany', () => {
      it('removes every object named and gives the size of each, null for one that was not there', async () => {
        await storage.put('outputs/j.1/default', Buffer.alloc(10));
        await storage.put('outputs/j.1/small', Buffer.alloc(3));
        await storage.put('uploads/j', Buffer.alloc(7));
        await storage.put('uploads/kept', Buffer.alloc(1));
        expect(
          await storage.deleteMany([
            'outputs/j.1/default',
            'uploads/missing',
            'outputs/j.1/small',
            'uploads/j',
          ]),
        ).toEqual([10, null, 3, 7]);
        expect(await leftovers()).toEqual(['uploads/kept']);
      });

      it('removes many objects, more than it removes at once', async () => {
        const keys = Array.from(
          { length: 100 },
          (_, index) => `outputs/many.1/o${index}`,
        );
        await Promise.all(
          keys.map((key) => storage.put(key, Buffer.from('x'))),
        );
        expect(await storage.deleteMany(keys)).toEqual(keys.map(() => 1));
        expect(await leftovers()).toEqual([]);
      });

      it('removes nothing when one of the keys is invalid, and names it', async () => {
        await storage.put('outputs/keep', Buffer.from('k'));
        await expect(
          storage.deleteMany(['outputs/keep', '../escape']),
        ).rejects.toThrow('Invalid storage key: "../escape"');
        expect(await leftovers()).toEqual(['outputs/keep']);
      });

      it('takes an empty list', async () => {
        expect(await storage.deleteMany([])).toEqual([]);
      });
    });

    describe('delete', () => {
      it('removes only the object asked for, and is idempotent', async () => {
        await storage.put('outputs/keep', Buffer.from('k'));
        await storage.put('outputs/d', Buffer.from('x'));
        await storage.delete('outputs/d');
        expect(await storage.sizeOf('outputs/d')).toBeNull();
        await expect(storage.read('outputs/d')).rejects.toBeInstanceOf(
          BlobNotFoundError,
        );
        await expect(storage.delete('outputs/d')).resolves.toBeUndefined();
        await expect(storage.delete('never/stored')).resolves.toBeUndefined();
        expect(await leftovers()).toEqual(['outputs/keep']);
      });
    });

    describe('keys', () => {
      it.each([
        '../escape',
        'outputs/../../escape',
        'outputs/..',
        'outputs/./x',
        '/etc/passwd',
        '',
        'outputs//x',
        'outputs/',
        '.hidden',
        'back\\slash',
        'with space',
        'nul\0byte',
      ])('refuses %j in every method, writing nothing', async (key) => {
        const message = `Invalid storage key: ${JSON.stringify(key)}`;
        await expect(storage.put(key, Buffer.from('x'))).rejects.toThrow(
          message,
        );
        await expect(
          storage.put(key, Readable.from([Buffer.from('x')])),
        ).rejects.toThrow(message);
        await expect(
          storage.putIfAbsent(key, Buffer.from('x')),
        ).rejects.toThrow(message);
        await expect(storage.read(key)).rejects.toThrow(message);
        await expect(storage.openReadStream(key)).rejects.toThrow(message);
        await expect(storage.sizeOf(key)).rejects.toThrow(message);
        await expect(storage.delete(key)).rejects.toThrow(message);
        expect(await leftovers()).toEqual([]);
      });

      it.each(['outputs/file.name.png', 'a_b-c/D-9', 'outputs/...'])(
        'accepts %j',
        async (key) => {
          await storage.put(key, Buffer.from('ok'));
          expect((await storage.read(key)).toString()).toBe('ok');
        },
      );
    });

    describe('a stream passed through a check on the way', () => {
      /**
       * Lets bytes through until it has seen `limit` of them, then refuses the
       * rest.
       */
      const refusingAfter = (limit: number) => {
        let seen = 0;
        return new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            seen += chunk.length;
            callback(
              seen > limit ? new Error(`more than ${limit} bytes`) : null,
              chunk,
            );
          },
        });
      };

      it('stores what passed the check', async () => {
        const data = Buffer.alloc(50_000, 3);
        expect(
          await storage.put(
            'uploads/checked',
            Readable.from([data]),
            refusingAfter(100_000),
          ),
        ).toEqual({ sizeBytes: data.length });
        expect(await storage.read('uploads/checked')).toEqual(data);
      });

      it("rejects with the check's error, destroys the source and leaves nothing", async () => {
        const source = Readable.from([
          Buffer.alloc(30_000, 1),
          Buffer.alloc(30_000, 2),
          Buffer.alloc(30_000, 3),
        ]);
        await expect(
          storage.put('uploads/refused', source, refusingAfter(40_000)),
        ).rejects.toThrow('more than 40000 bytes');
        expect(source.destroyed).toBe(true);
        expect(await leftovers()).toEqual([]);
      });

      it('refused past the first part of a large upload, leaves no part behind', async () => {
        const source = Readable.from(
          Array.from({ length: 200 }, (_, index) =>
            Buffer.alloc(65_536, index),
          ),
        );
        await expect(
          storage.put(
            'uploads/refused-late',
            source,
            refusingAfter(11 * 1024 * 1024),
          ),
        ).rejects.toThrow(`more than ${11 * 1024 * 1024} bytes`);
        expect(source.destroyed).toBe(true);
        expect(await leftovers()).toEqual([]);
      });

      it('rejects, never as an unhandled error, when the check refuses at the end of an empty stream', async () => {
        const refuseEmpty = new Transform({
          transform: (chunk: Buffer, _encoding, callback) =>
            callback(null, chunk),
          flush: (callback) => callback(new Error('nothing came')),
        });
        await expect(
          storage.put('uploads/none', Readable.from([]), refuseEmpty),
        ).rejects.toThrow('nothing came');
        expect(await leftovers()).toEqual([]);
      });
    });

    describe('a failing stream', () => {
      it('rejects with the stream error and leaves nothing', async () => {
        const failure = new Error('client went away');
        const error = await storage
          .put(
            'uploads/partial',
            failingStream(
              [Buffer.alloc(20_000, 1), Buffer.alloc(20_000, 2)],
              failure,
            ),
          )
          .catch((caught: unknown) => caught);
        expect(error).toBe(failure);
        expect(await storage.sizeOf('uploads/partial')).toBeNull();
        expect(await leftovers()).toEqual([]);
      });

      it('failing after several parts of a large upload, rejects with its error and leaves no part behind', async () => {
        const failure = new Error('client went away late');
        const parts = Array.from({ length: 180 }, (_, index) =>
          Buffer.alloc(65_536, index),
        );
        await expect(
          storage.put('uploads/partial-large', failingStream(parts, failure)),
        ).rejects.toBe(failure);
        expect(await leftovers()).toEqual([]);
      });

      it('leaves an object stored earlier under the key as it was', async () => {
        await storage.put('uploads/kept', Buffer.from('original'));
        await expect(
          storage.put(
            'uploads/kept',
            failingStream([Buffer.from('new partial data')], new Error('boom')),
          ),
        ).rejects.toThrow('boom');
        expect((await storage.read('uploads/kept')).toString()).toBe(
          'original',
        );
        expect(await leftovers()).toEqual(['uploads/kept']);
      });

      it('rejects with the error of a stream that fails before anything was written, never as an unhandled error', async () => {
        const source = new Readable({ read() {} });
        const stored = storage.put('uploads/early', source);
        source.emit('error', new Error('failed at once'));
        await expect(stored).rejects.toThrow('failed at once');
        expect(await leftovers()).toEqual([]);
      });

      it('rejects a stream destroyed without an error (its client went away) and leaves nothing', async () => {
        const source = new Readable({ read() {} });
        source.push(Buffer.alloc(1000, 1));
        const stored = storage.put('uploads/abandoned', source);
        setImmediate(() => source.destroy());
        await expect(stored).rejects.toThrow(/premature close/i);
        expect(await leftovers()).toEqual([]);
      });

      it.each([
        ['on its own', () => undefined],
        [
          'through a check',
          () =>
            new Transform({
              transform: (chunk: Buffer, _encoding, callback) =>
                callback(null, chunk),
            }),
        ],
      ])(
        'rejects a stream destroyed before the call, %s, and leaves nothing',
        async (_how, check) => {
          const source = new Readable({ read() {} });
          source.push(Buffer.alloc(5000, 1));
          source.push(null);
          source.destroy();
          await new Promise((resolve) => setImmediate(resolve));
          await expect(
            storage.put('uploads/gone', source, check()),
          ).rejects.toThrow(/premature close/i);
          expect(await leftovers()).toEqual([]);
        },
      );

      it('destroys the stream when the key is invalid, so that its producer is not left waiting', async () => {
        const source = new Readable({ read() {} });
        await expect(storage.put('../escape', source)).rejects.toThrow(
          'Invalid storage key',
        );
        expect(source.destroyed).toBe(true);
      });

      it('can write the key afterwards', async () => {
        await storage
          .put(
            'uploads/retry',
            failingStream([Buffer.from('x')], new Error('boom')),
          )
          .catch(() => undefined);
        await storage.put('uploads/retry', Buffer.from('second try'));
        expect((await storage.read('uploads/retry')).toString()).toBe(
          'second try',
        );
      });
    });
  });
}
