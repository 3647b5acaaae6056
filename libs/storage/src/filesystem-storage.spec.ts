import { readlinkSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { BlobNotFoundError, StorageKeys } from './blob-storage';
import { FilesystemBlobStorage } from './filesystem-storage';

/** Every file under `dir`, relative to it, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** A stream that sends `good` chunks and then fails. */
function failingStream(good: Buffer[], error: Error): Readable {
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

type DiskCall = { call: 'fsync' | 'fdatasync'; path: string } | { call: 'link' | 'rename'; from: string; to: string };

/**
 * Records the flushes and the names put in place by every fs call of this process, whichever
 * API makes them (fs.promises, FileHandle or callbacks): all of them go through Node's fs
 * binding, which is wrapped here; a flushed descriptor is named by its /proc link.
 */
function recordDiskCalls(): { calls: DiskCall[]; stop: () => void } {
  const binding = (process as unknown as { binding(name: 'fs'): Record<string, (...args: unknown[]) => unknown> }).binding('fs');
  const calls: DiskCall[] = [];
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  for (const call of ['fsync', 'fdatasync', 'link', 'rename'] as const) {
    const original = binding[call];
    originals.set(call, original);
    binding[call] = function (this: unknown, ...args: unknown[]) {
      if (call === 'fsync' || call === 'fdatasync') calls.push({ call, path: readlinkSync(`/proc/self/fd/${args[0] as number}`) });
      else calls.push({ call, from: String(args[0]), to: String(args[1]) });
      return original.apply(this, args);
    };
  }
  return { calls, stop: () => originals.forEach((original, call) => (binding[call] = original)) };
}

describe('FilesystemBlobStorage', () => {
  let root: string;
  let storage: FilesystemBlobStorage;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'blob-storage-'));
    storage = new FilesystemBlobStorage(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  describe('put and read', () => {
    it('stores a Buffer and reads it back', async () => {
      const data = Buffer.from('hello, storage');
      expect(await storage.put('outputs/job-1', data)).toEqual({ sizeBytes: data.length });
      expect(await storage.read('outputs/job-1')).toEqual(data);
      expect(await readFile(join(root, 'outputs', 'job-1'))).toEqual(data);
    });

    it('stores a Readable and reads it back', async () => {
      const chunks = [Buffer.alloc(70_000, 1), Buffer.from('middle'), Buffer.alloc(10, 7)];
      const expected = Buffer.concat(chunks);
      expect(await storage.put('uploads/job-2', Readable.from(chunks))).toEqual({ sizeBytes: expected.length });
      expect(await storage.read('uploads/job-2')).toEqual(expected);
    });

    it('stores an empty object', async () => {
      expect(await storage.put('uploads/empty', Buffer.alloc(0))).toEqual({ sizeBytes: 0 });
      expect(await storage.sizeOf('uploads/empty')).toBe(0);
      expect(await storage.read('uploads/empty')).toEqual(Buffer.alloc(0));
    });

    it('replaces what was stored under the key', async () => {
      await storage.put('outputs/x', Buffer.from('first, longer content'));
      await storage.put('outputs/x', Buffer.from('second'));
      expect((await storage.read('outputs/x')).toString()).toBe('second');
      expect(await storage.sizeOf('outputs/x')).toBe(6);
    });

    it('creates nested folders for a key', async () => {
      await storage.put('a/b/c/d.bin', Buffer.from([1, 2, 3]));
      expect(await readFile(join(root, 'a', 'b', 'c', 'd.bin'))).toEqual(Buffer.from([1, 2, 3]));
    });

    it('keeps objects under different keys apart', async () => {
      await storage.put(StorageKeys.upload('j1'), Buffer.from('upload'));
      await storage.put(StorageKeys.output('j1', 1, 'default'), Buffer.from('output'));
      expect((await storage.read('uploads/j1')).toString()).toBe('upload');
      expect((await storage.read('outputs/j1.1/default')).toString()).toBe('output');
    });

    it('leaves no temporary files after successful writes', async () => {
      await storage.put('outputs/a', Buffer.from('a'));
      await storage.put('outputs/b', Readable.from([Buffer.from('b')]));
      expect(await filesUnder(root)).toEqual(['outputs/a', 'outputs/b']);
    });

    it('handles concurrent writes of different keys', async () => {
      const keys = Array.from({ length: 10 }, (_, index) => `outputs/job-${index}`);
      await Promise.all(keys.map((key, index) => storage.put(key, Buffer.alloc(100 + index, index))));
      for (const [index, key] of keys.entries()) {
        expect(await storage.sizeOf(key)).toBe(100 + index);
      }
      expect(await filesUnder(root)).toHaveLength(10);
    });
  });

  describe('putIfAbsent', () => {
    it('stores the bytes under a new key', async () => {
      const data = Buffer.from('first outcome');
      expect(await storage.putIfAbsent('outputs/j.1/default', data)).toEqual({ created: true, sizeBytes: data.length });
      expect(await storage.read('outputs/j.1/default')).toEqual(data);
      expect(await filesUnder(root)).toEqual(['outputs/j.1/default']);
    });

    it('stores a Readable under a new key', async () => {
      const chunks = [Buffer.alloc(70_000, 3), Buffer.from('tail')];
      expect(await storage.putIfAbsent('outputs/streamed', Readable.from(chunks))).toEqual({ created: true, sizeBytes: 70_004 });
      expect(await storage.read('outputs/streamed')).toEqual(Buffer.concat(chunks));
    });

    it('leaves an object already stored under the key as it was, and gives its size', async () => {
      await storage.put('outputs/kept', Buffer.from('the first, longer bytes'));
      expect(await storage.putIfAbsent('outputs/kept', Buffer.from('other'))).toEqual({ created: false, sizeBytes: 23 });
      expect(await storage.putIfAbsent('outputs/kept', Readable.from([Buffer.from('other')]))).toEqual({ created: false, sizeBytes: 23 });
      expect((await storage.read('outputs/kept')).toString()).toBe('the first, longer bytes');
      expect(await filesUnder(root)).toEqual(['outputs/kept']);
    });

    it('lets exactly one of many concurrent writers of a key store its whole bytes, and leaves no temporary file', async () => {
      const writers = Array.from({ length: 12 }, (_, index) => Buffer.alloc(50_000 + index * 1000, index + 1));
      const results = await Promise.all(writers.map((data) => storage.putIfAbsent('outputs/raced/default', data)));
      const winners = results.flatMap((result, index) => (result.created ? [index] : []));
      expect(winners).toHaveLength(1);
      const stored = await storage.read('outputs/raced/default');
      expect(stored.equals(writers[winners[0]])).toBe(true);
      expect(results.map((result) => result.sizeBytes)).toEqual(writers.map(() => stored.length));
      expect(await filesUnder(root)).toEqual(['outputs/raced/default']);
    });

    it('rejects with the error of a failing stream, leaving no temporary file and no object', async () => {
      const failure = new Error('source went away');
      await expect(storage.putIfAbsent('outputs/partial', failingStream([Buffer.alloc(20_000, 1)], failure))).rejects.toBe(failure);
      expect(await storage.sizeOf('outputs/partial')).toBeNull();
      expect(await filesUnder(root)).toEqual([]);
    });

    it('creates an attempt\'s output beside a file stored under the job id alone (the layout before attempts)', async () => {
      await storage.put('outputs/legacy-job', Buffer.from('attempt 1, old layout'));
      expect(await storage.putIfAbsent(StorageKeys.output('legacy-job', 2, 'default'), Buffer.from('attempt 2'))).toMatchObject({ created: true });
      expect((await storage.read('outputs/legacy-job')).toString()).toBe('attempt 1, old layout');
      expect((await storage.read('outputs/legacy-job.2/default')).toString()).toBe('attempt 2');
    });
  });

  describe('a folder removed by someone else', () => {
    it('is made again by the next put', async () => {
      await storage.put('outputs/job-a/default', Buffer.from('a'));
      await rm(join(root, 'outputs'), { recursive: true });
      await storage.put('outputs/job-b/default', Buffer.from('b'));
      await storage.put('outputs/job-a/default', Buffer.from('a again'));
      expect(await filesUnder(root)).toEqual(['outputs/job-a/default', 'outputs/job-b/default']);
      expect((await storage.read('outputs/job-a/default')).toString()).toBe('a again');
    });

    it('is made again by the next putIfAbsent, and by a streamed put', async () => {
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('a'));
      await rm(join(root, 'outputs'), { recursive: true });
      expect(await storage.putIfAbsent('outputs/j.1/default', Buffer.from('b'))).toEqual({ created: true, sizeBytes: 1 });
      await rm(join(root, 'outputs'), { recursive: true });
      await storage.put('outputs/j.1/default', Readable.from([Buffer.from('streamed')]));
      expect((await storage.read('outputs/j.1/default')).toString()).toBe('streamed');
    });
  });

  describe('durability', () => {
    let recorder: ReturnType<typeof recordDiskCalls>;
    let seen: number;
    beforeEach(() => {
      recorder = recordDiskCalls();
      seen = 0;
    });
    afterEach(() => recorder.stop());

    /** The folders flushed since the last call, sorted, relative to the root ('' for the root). */
    const foldersSynced = () => {
      const synced = recorder.calls.slice(seen).flatMap((entry) => (entry.call === 'fsync' ? [relative(root, entry.path)] : []));
      seen = recorder.calls.length;
      return synced.sort();
    };

    it('flushes the bytes, then puts the name in place, then flushes the folder that holds it', async () => {
      await storage.put('outputs/p', Buffer.from('put'));
      await storage.putIfAbsent('outputs/q', Buffer.from('putIfAbsent'));
      const withoutFolders = recorder.calls.filter((entry) => !(entry.call === 'fsync' && relative(root, entry.path) !== 'outputs'));
      expect(withoutFolders.map((entry) => ('path' in entry ? [entry.call, relative(root, entry.path)] : [entry.call, relative(root, entry.to)]))).toEqual([
        ['fdatasync', expect.stringMatching(/^outputs\/p\..*\.tmp$/)],
        ['rename', 'outputs/p'],
        ['fsync', 'outputs'],
        ['fdatasync', expect.stringMatching(/^outputs\/q\..*\.tmp$/)],
        ['link', 'outputs/q'],
        ['fsync', 'outputs'],
      ]);
    });

    it('flushes each folder that gained a new folder, once', async () => {
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('a'));
      expect(foldersSynced()).toEqual(['', 'outputs', 'outputs/j.1']);
      await storage.putIfAbsent('outputs/j.1/small', Buffer.from('b'));
      expect(foldersSynced()).toEqual(['outputs/j.1']);
      await storage.put('outputs/k.1/default', Buffer.from('c'));
      expect(foldersSynced()).toEqual(['outputs', 'outputs/k.1']);
    });

    it('flushes the parent of a folder it finds made by another writer, which may not have flushed it yet', async () => {
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('a'));
      foldersSynced();
      const other = new FilesystemBlobStorage(root);
      await other.putIfAbsent('outputs/j.1/small', Buffer.from('b'));
      expect(foldersSynced()).toEqual(['outputs', 'outputs/j.1']);
      await other.putIfAbsent('outputs/j.1/large', Buffer.from('c'));
      expect(foldersSynced()).toEqual(['outputs/j.1']);
    });

    it('flushes the folders of a root it made', async () => {
      await new FilesystemBlobStorage(join(root, 'not', 'yet')).put('outputs/x', Buffer.from('x'));
      expect(foldersSynced()).toEqual(['', 'not', 'not/yet', 'not/yet/outputs']);
    });

    it('flushes a folder made again after someone else removed it, and its parent', async () => {
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('a'));
      await rm(join(root, 'outputs', 'j.1'), { recursive: true });
      foldersSynced();
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('b'));
      expect(foldersSynced()).toEqual(['outputs', 'outputs/j.1']);
    });
  });

  describe('sizeOf', () => {
    it('gives the size of a stored object', async () => {
      await storage.put('outputs/s', Buffer.alloc(1234));
      expect(await storage.sizeOf('outputs/s')).toBe(1234);
    });

    it('gives null for a missing object', async () => {
      expect(await storage.sizeOf('outputs/missing')).toBeNull();
      expect(await storage.sizeOf('nothing-here/at-all')).toBeNull();
    });
  });

  describe('read of a missing object', () => {
    it('throws BlobNotFoundError naming the key', async () => {
      const error = await storage.read('outputs/missing').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BlobNotFoundError);
      expect((error as BlobNotFoundError).key).toBe('outputs/missing');
      expect((error as Error).message).toBe('No stored object at outputs/missing');
    });
  });

  describe('openReadStream', () => {
    it('streams a stored object and gives its size', async () => {
      const data = Buffer.alloc(100_000, 9);
      await storage.put('outputs/big', data);
      const { stream, sizeBytes } = await storage.openReadStream('outputs/big');
      expect(sizeBytes).toBe(data.length);
      expect(await readAll(stream)).toEqual(data);
    });

    it('throws BlobNotFoundError for a missing object', async () => {
      await expect(storage.openReadStream('outputs/none')).rejects.toBeInstanceOf(BlobNotFoundError);
    });
  });

  describe('deleteMany', () => {
    it('removes every object named and gives the size of each, null for one that was not there', async () => {
      await storage.put('outputs/j.1/default', Buffer.alloc(10));
      await storage.put('outputs/j.1/small', Buffer.alloc(3));
      await storage.put('uploads/j', Buffer.alloc(7));
      await storage.put('uploads/kept', Buffer.alloc(1));
      expect(await storage.deleteMany(['outputs/j.1/default', 'uploads/missing', 'outputs/j.1/small', 'uploads/j'])).toEqual([10, null, 3, 7]);
      expect(await filesUnder(root)).toEqual(['uploads/kept']);
    });

    it('removes the folder of an attempt once it is empty, but keeps the top folders and folders still holding objects', async () => {
      await storage.put('outputs/a.1/default', Buffer.from('a'));
      await storage.put('outputs/b.1/default', Buffer.from('b'));
      await storage.put('outputs/b.1/other', Buffer.from('c'));
      await storage.put('uploads/u', Buffer.from('u'));
      await storage.deleteMany(['outputs/a.1/default', 'outputs/b.1/default', 'uploads/u']);
      expect(await readdir(join(root, 'outputs'))).toEqual(['b.1']);
      expect(await readdir(join(root, 'uploads'))).toEqual([]);
      await storage.put('outputs/a.1/default', Buffer.from('again'));
      expect((await storage.read('outputs/a.1/default')).toString()).toBe('again');
    });

    it('removes many objects, more than it removes at once', async () => {
      const keys = Array.from({ length: 100 }, (_, index) => `outputs/many.1/o${index}`);
      for (const key of keys) await storage.put(key, Buffer.from('x'));
      expect(await storage.deleteMany(keys)).toEqual(keys.map(() => 1));
      expect(await filesUnder(root)).toEqual([]);
    });

    it('removes nothing when one of the keys is invalid, and names it', async () => {
      await storage.put('outputs/keep', Buffer.from('k'));
      await expect(storage.deleteMany(['outputs/keep', '../escape'])).rejects.toThrow('Invalid storage key: "../escape"');
      expect(await filesUnder(root)).toEqual(['outputs/keep']);
    });

    it('takes an empty list', async () => {
      expect(await storage.deleteMany([])).toEqual([]);
    });
  });

  describe('delete', () => {
    it('removes a stored object', async () => {
      await storage.put('outputs/d', Buffer.from('x'));
      await storage.delete('outputs/d');
      expect(await storage.sizeOf('outputs/d')).toBeNull();
      await expect(storage.read('outputs/d')).rejects.toBeInstanceOf(BlobNotFoundError);
    });

    it('is idempotent', async () => {
      await storage.put('outputs/d', Buffer.from('x'));
      await storage.delete('outputs/d');
      await expect(storage.delete('outputs/d')).resolves.toBeUndefined();
      await expect(storage.delete('never/stored')).resolves.toBeUndefined();
    });

    it('removes only the object asked for', async () => {
      await storage.put('outputs/keep', Buffer.from('k'));
      await storage.put('outputs/drop', Buffer.from('d'));
      await storage.delete('outputs/drop');
      expect(await filesUnder(root)).toEqual(['outputs/keep']);
    });
  });

  describe('keys', () => {
    it.each([
      '../escape',
      'outputs/../../escape',
      'outputs/..',
      'outputs/./x',
      '/etc/passwd',
      '/absolute',
      '',
      'outputs//x',
      'outputs/',
      '.hidden',
      'back\\slash',
      'with space',
      'nul\0byte',
    ])('refuses %j in every method', async (key) => {
      const message = `Invalid storage key: ${JSON.stringify(key)}`;
      await expect(storage.put(key, Buffer.from('x'))).rejects.toThrow(message);
      await expect(storage.put(key, Readable.from([Buffer.from('x')]))).rejects.toThrow(message);
      await expect(storage.putIfAbsent(key, Buffer.from('x'))).rejects.toThrow(message);
      await expect(storage.read(key)).rejects.toThrow(message);
      await expect(storage.openReadStream(key)).rejects.toThrow(message);
      await expect(storage.sizeOf(key)).rejects.toThrow(message);
      await expect(storage.delete(key)).rejects.toThrow(message);
    });

    it('does not write anything for a refused key', async () => {
      await storage.put('../escape', Buffer.from('x')).catch(() => undefined);
      await storage.putIfAbsent('../escape', Buffer.from('x')).catch(() => undefined);
      expect(await filesUnder(root)).toEqual([]);
    });

    it.each(['outputs/file.name.png', 'a_b-c/D-9', 'outputs/...'])('accepts %j', async (key) => {
      await storage.put(key, Buffer.from('ok'));
      expect((await storage.read(key)).toString()).toBe('ok');
    });
  });

  describe('a stream passed through a check on the way', () => {
    /** Lets bytes through until it has seen `limit` of them, then refuses the rest. */
    const refusingAfter = (limit: number) => {
      let seen = 0;
      return new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          seen += chunk.length;
          callback(seen > limit ? new Error(`more than ${limit} bytes`) : null, chunk);
        },
      });
    };

    it('stores what passed the check', async () => {
      const data = Buffer.alloc(50_000, 3);
      expect(await storage.put('uploads/checked', Readable.from([data]), refusingAfter(100_000))).toEqual({ sizeBytes: data.length });
      expect(await storage.read('uploads/checked')).toEqual(data);
    });

    it('rejects with the check\'s error, destroys the source and leaves nothing', async () => {
      const source = Readable.from([Buffer.alloc(30_000, 1), Buffer.alloc(30_000, 2), Buffer.alloc(30_000, 3)]);
      await expect(storage.put('uploads/refused', source, refusingAfter(40_000))).rejects.toThrow('more than 40000 bytes');
      expect(source.destroyed).toBe(true);
      expect(await filesUnder(root)).toEqual([]);
    });

    it('rejects, never as an unhandled error, when the check refuses at the end of an empty stream', async () => {
      const refuseEmpty = new Transform({
        transform: (chunk: Buffer, _encoding, callback) => callback(null, chunk),
        flush: (callback) => callback(new Error('nothing came')),
      });
      await expect(storage.put('uploads/none', Readable.from([]), refuseEmpty)).rejects.toThrow('nothing came');
      expect(await filesUnder(root)).toEqual([]);
    });
  });

  describe('a failing stream', () => {
    it('rejects with the stream error, leaves no temporary file and no object', async () => {
      const failure = new Error('client went away');
      const error = await storage
        .put('uploads/partial', failingStream([Buffer.alloc(20_000, 1), Buffer.alloc(20_000, 2)], failure))
        .catch((caught: unknown) => caught);
      expect(error).toBe(failure);
      expect(await storage.sizeOf('uploads/partial')).toBeNull();
      await expect(storage.read('uploads/partial')).rejects.toBeInstanceOf(BlobNotFoundError);
      const left = await readdir(join(root, 'uploads'));
      expect(left.filter((name) => name.endsWith('.tmp'))).toEqual([]);
      expect(left).toEqual([]);
    });

    it('leaves an object stored earlier under the key as it was', async () => {
      await storage.put('uploads/kept', Buffer.from('original'));
      await expect(storage.put('uploads/kept', failingStream([Buffer.from('new partial data')], new Error('boom')))).rejects.toThrow('boom');
      expect((await storage.read('uploads/kept')).toString()).toBe('original');
      expect(await filesUnder(root)).toEqual(['uploads/kept']);
    });

    it('rejects with the error of a stream that fails before anything was written, never as an unhandled error', async () => {
      // put answers for the stream from the moment it is called, although it has a folder to create
      // first: an error the stream emits meanwhile is put's rejection, not an unhandled 'error' event.
      const source = new Readable({ read() {} });
      const stored = storage.put('uploads/early', source);
      source.emit('error', new Error('failed at once'));
      await expect(stored).rejects.toThrow('failed at once');
      expect(await filesUnder(root)).toEqual([]);
    });

    it('rejects a stream destroyed without an error (its client went away) and leaves nothing', async () => {
      const source = new Readable({ read() {} });
      source.push(Buffer.alloc(1000, 1));
      const stored = storage.put('uploads/abandoned', source);
      setImmediate(() => source.destroy());
      await expect(stored).rejects.toThrow(/premature close/i);
      expect(await filesUnder(root)).toEqual([]);
    });

    it.each([
      ['on its own', () => undefined],
      ['through a check', () => new Transform({ transform: (chunk: Buffer, _encoding, callback) => callback(null, chunk) })],
    ])('rejects a stream destroyed before the call, %s, and leaves nothing', async (_how, check) => {
      const source = new Readable({ read() {} });
      source.push(Buffer.alloc(5000, 1));
      source.push(null);
      source.destroy();
      await new Promise((resolve) => setImmediate(resolve));
      await expect(storage.put('uploads/gone', source, check())).rejects.toThrow(/premature close/i);
      expect(await filesUnder(root)).toEqual([]);
    });

    it('destroys the stream when the key is invalid, so that its producer is not left waiting', async () => {
      const source = new Readable({ read() {} });
      await expect(storage.put('../escape', source)).rejects.toThrow('Invalid storage key');
      expect(source.destroyed).toBe(true);
    });

    it('can write the key afterwards', async () => {
      await storage.put('uploads/retry', failingStream([Buffer.from('x')], new Error('boom'))).catch(() => undefined);
      await storage.put('uploads/retry', Buffer.from('second try'));
      expect((await storage.read('uploads/retry')).toString()).toBe('second try');
    });
  });

  it('resolves a relative root against the working directory', async () => {
    const relativeRoot = relative(process.cwd(), join(root, 'rel'));
    expect(isAbsolute(relativeRoot)).toBe(false);
    await new FilesystemBlobStorage(relativeRoot).put('outputs/r', Buffer.from('r'));
    expect(await readFile(join(root, 'rel', 'outputs', 'r'), 'utf8')).toBe('r');
  });

  it('works when the root does not exist yet', async () => {
    const fresh = new FilesystemBlobStorage(join(root, 'not', 'yet'));
    await fresh.put('outputs/x', Buffer.from('x'));
    expect(await readFile(join(root, 'not', 'yet', 'outputs', 'x'), 'utf8')).toBe('x');
  });

  it('reads a file written by another process under the key', async () => {
    await storage.put('outputs/seed', Buffer.from('seed'));
    await writeFile(join(root, 'outputs', 'external'), 'from elsewhere');
    expect((await storage.read('outputs/external')).toString()).toBe('from elsewhere');
  });
});

describe('StorageKeys.output', () => {
  it('names each attempt\'s output apart, in a folder of its own beside the job id', () => {
    expect(StorageKeys.output('job-1', 1, 'default')).toBe('outputs/job-1.1/default');
    expect(StorageKeys.output('job-1', 2, 'default')).toBe('outputs/job-1.2/default');
    expect(StorageKeys.output('job-1', 2, 'thumb')).toBe('outputs/job-1.2/thumb');
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses the attempt %p', (attempt) => {
    expect(() => StorageKeys.output('job-1', attempt, 'default')).toThrow(`Invalid attempt for an output key: ${attempt} (a whole number from 1)`);
  });
});
