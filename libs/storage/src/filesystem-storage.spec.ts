import { readlinkSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { blobStorageContract } from '../../../test/support/blob-storage-contract';
import { StorageKeys } from './blob-storage';
import { FilesystemBlobStorage } from './filesystem-storage';

/** Every file under `dir`, relative to it, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

type DiskCall =
  | { call: 'fsync' | 'fdatasync'; path: string }
  | { call: 'link' | 'rename'; from: string; to: string };

/**
 * Records the flushes and the names put in place by every fs call of this
 * process, whichever API makes them (fs.promises, FileHandle or callbacks): all
 * of them go through Node's fs binding, which is wrapped here; a flushed
 * descriptor is named by its /proc link.
 */
function recordDiskCalls(): { calls: DiskCall[]; stop: () => void } {
  const binding = (
    process as unknown as {
      binding(name: 'fs'): Record<string, (...args: unknown[]) => unknown>;
    }
  ).binding('fs');
  const calls: DiskCall[] = [];
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  for (const call of ['fsync', 'fdatasync', 'link', 'rename'] as const) {
    const original = binding[call];
    originals.set(call, original);
    binding[call] = function (this: unknown, ...args: unknown[]) {
      if (call === 'fsync' || call === 'fdatasync')
        calls.push({
          call,
          path: readlinkSync(`/proc/self/fd/${args[0] as number}`),
        });
      else calls.push({ call, from: String(args[0]), to: String(args[1]) });
      return original.apply(this, args);
    };
  }
  return {
    calls,
    stop: () =>
      originals.forEach((original, call) => (binding[call] = original)),
  };
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

  // Every file under the root, temporary ones included: a write that failed
  // leaves none.
  blobStorageContract('FilesystemBlobStorage', () => ({
    storage,
    leftovers: () => filesUnder(root),
  }));

  it('keeps each object in a file at its key, in folders made for it', async () => {
    await storage.put('a/b/c/d.bin', Buffer.from([1, 2, 3]));
    await storage.putIfAbsent(
      'outputs/j.1/default',
      Readable.from([Buffer.from('streamed')]),
    );
    expect(await readFile(join(root, 'a', 'b', 'c', 'd.bin'))).toEqual(
      Buffer.from([1, 2, 3]),
    );
    expect(
      await readFile(join(root, 'outputs', 'j.1', 'default'), 'utf8'),
    ).toBe('streamed');
    expect(storage.localPath('a/b/c/d.bin')).toBe(
      join(root, 'a', 'b', 'c', 'd.bin'),
    );
  });

  it('hands out no download link and keeps no checksum of its own', async () => {
    await storage.putIfAbsent('outputs/j.1/default', Buffer.from('x'), {
      sha256:
        '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
    });
    expect(
      await storage.downloadUrl('outputs/j.1/default', {
        expiresInSeconds: 60,
        contentType: 'image/png',
        contentDisposition: 'inline',
      }),
    ).toBeNull();
    const { stream, sha256 } = await storage.openReadStream(
      'outputs/j.1/default',
    );
    stream.destroy();
    expect(sha256).toBeNull();
    expect(storage.remote).toBe(false);
  });

  it('probes its folder: made if need be, refused with the reason where it cannot be written', async () => {
    await expect(
      new FilesystemBlobStorage(join(root, 'made', 'now')).probe(),
    ).resolves.toBeUndefined();
    await writeFile(join(root, 'a-file'), 'not a folder');
    await expect(
      new FilesystemBlobStorage(join(root, 'a-file', 'below')).probe(),
    ).rejects.toThrow(
      `The storage folder ${join(root, 'a-file', 'below')} cannot be used: ENOTDIR`,
    );
  });

  describe('a folder removed by someone else', () => {
    it('is made again by the next put', async () => {
      await storage.put('outputs/job-a/default', Buffer.from('a'));
      await rm(join(root, 'outputs'), { recursive: true });
      await storage.put('outputs/job-b/default', Buffer.from('b'));
      await storage.put('outputs/job-a/default', Buffer.from('a again'));
      expect(await filesUnder(root)).toEqual([
        'outputs/job-a/default',
        'outputs/job-b/default',
      ]);
      expect((await storage.read('outputs/job-a/default')).toString()).toBe(
        'a again',
      );
    });

    it('is made again by the next putIfAbsent, and by a streamed put', async () => {
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('a'));
      await rm(join(root, 'outputs'), { recursive: true });
      expect(
        await storage.putIfAbsent('outputs/j.1/default', Buffer.from('b')),
      ).toEqual({ created: true, sizeBytes: 1 });
      await rm(join(root, 'outputs'), { recursive: true });
      await storage.put(
        'outputs/j.1/default',
        Readable.from([Buffer.from('streamed')]),
      );
      expect((await storage.read('outputs/j.1/default')).toString()).toBe(
        'streamed',
      );
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

    /**
     * The folders flushed since the last call, sorted, relative to the root (''
     * for the root).
     */
    const foldersSynced = () => {
      const synced = recorder.calls
        .slice(seen)
        .flatMap((entry) =>
          entry.call === 'fsync' ? [relative(root, entry.path)] : [],
        );
      seen = recorder.calls.length;
      return synced.sort();
    };

    it('flushes the bytes, then puts the name in place, then flushes the folder that holds it', async () => {
      await storage.put('outputs/p', Buffer.from('put'));
      await storage.putIfAbsent('outputs/q', Buffer.from('putIfAbsent'));
      const withoutFolders = recorder.calls.filter(
        (entry) =>
          !(entry.call === 'fsync' && relative(root, entry.path) !== 'outputs'),
      );
      expect(
        withoutFolders.map((entry) =>
          'path' in entry
            ? [entry.call, relative(root, entry.path)]
            : [entry.call, relative(root, entry.to)],
        ),
      ).toEqual([
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
      await new FilesystemBlobStorage(join(root, 'not', 'yet')).put(
        'outputs/x',
        Buffer.from('x'),
      );
      expect(foldersSynced()).toEqual([
        '',
        'not',
        'not/yet',
        'not/yet/outputs',
      ]);
    });

    it('flushes a folder made again after someone else removed it, and its parent', async () => {
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('a'));
      await rm(join(root, 'outputs', 'j.1'), { recursive: true });
      foldersSynced();
      await storage.putIfAbsent('outputs/j.1/default', Buffer.from('b'));
      expect(foldersSynced()).toEqual(['outputs', 'outputs/j.1']);
    });
  });

  it('removes the folder of an attempt once deleteMany emptied it, but keeps the top folders and folders still holding objects', async () => {
    await storage.put('outputs/a.1/default', Buffer.from('a'));
    await storage.put('outputs/b.1/default', Buffer.from('b'));
    await storage.put('outputs/b.1/other', Buffer.from('c'));
    await storage.put('uploads/u', Buffer.from('u'));
    await storage.deleteMany([
      'outputs/a.1/default',
      'outputs/b.1/default',
      'uploads/u',
    ]);
    expect(await readdir(join(root, 'outputs'))).toEqual(['b.1']);
    expect(await readdir(join(root, 'uploads'))).toEqual([]);
    await storage.put('outputs/a.1/default', Buffer.from('again'));
    expect((await storage.read('outputs/a.1/default')).toString()).toBe(
      'again',
    );
  });

  it('resolves a relative root against the working directory', async () => {
    const relativeRoot = relative(process.cwd(), join(root, 'rel'));
    expect(isAbsolute(relativeRoot)).toBe(false);
    await new FilesystemBlobStorage(relativeRoot).put(
      'outputs/r',
      Buffer.from('r'),
    );
    expect(await readFile(join(root, 'rel', 'outputs', 'r'), 'utf8')).toBe('r');
  });

  it('works when the root does not exist yet', async () => {
    const fresh = new FilesystemBlobStorage(join(root, 'not', 'yet'));
    await fresh.put('outputs/x', Buffer.from('x'));
    expect(
      await readFile(join(root, 'not', 'yet', 'outputs', 'x'), 'utf8'),
    ).toBe('x');
  });

  it('reads a file written by another process under the key', async () => {
    await storage.put('outputs/seed', Buffer.from('seed'));
    await writeFile(join(root, 'outputs', 'external'), 'from elsewhere');
    expect((await storage.read('outputs/external')).toString()).toBe(
      'from elsewhere',
    );
  });
});

describe('StorageKeys.output', () => {
  it("names each attempt's output apart, in a folder of its own beside the job id", () => {
    expect(StorageKeys.output('job-1', 1, 'default')).toBe(
      'outputs/job-1.1/default',
    );
    expect(StorageKeys.output('job-1', 2, 'default')).toBe(
      'outputs/job-1.2/default',
    );
    expect(StorageKeys.output('job-1', 2, 'thumb')).toBe(
      'outputs/job-1.2/thumb',
    );
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses the attempt %p', (attempt) => {
    expect(() => StorageKeys.output('job-1', attempt, 'default')).toThrow(
      `Invalid attempt for an output key: ${attempt} (a whole number from 1)`,
    );
  });
});
