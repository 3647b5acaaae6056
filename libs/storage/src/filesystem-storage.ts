import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { FileHandle, link, mkdir, open, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobNotFoundError, BlobStorage } from './blob-storage';

const KEY_PATTERN = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function isNotFound(error: unknown): boolean {
  return errorCode(error) === 'ENOENT';
}

/**
 * Storage in a folder shared by every process (a volume in compose and Kubernetes).
 * Writes go to a temporary file in the same folder and are flushed; then the object's name
 * is put in place (a rename replaces, a link creates only) and the folder itself is flushed,
 * so that a stored object survives a power loss.
 */
export class FilesystemBlobStorage extends BlobStorage {
  private readonly root: string;

  constructor(root: string) {
    super();
    this.root = resolve(root);
  }

  private pathOf(key: string): string {
    if (!KEY_PATTERN.test(key) || key.split('/').some((part) => part === '..' || part === '.')) {
      throw new Error(`Invalid storage key: ${JSON.stringify(key)}`);
    }
    const path = join(this.root, ...key.split('/'));
    if (!path.startsWith(this.root + sep)) throw new Error(`Invalid storage key: ${JSON.stringify(key)}`);
    return path;
  }

  async put(key: string, data: Buffer | Readable, through?: Transform): Promise<{ sizeBytes: number }> {
    const path = this.pathToWrite(key, data);
    const { temporary, sizeBytes } = await this.writeTemporary(path, data, through);
    try {
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    await syncFolder(dirname(path));
    return { sizeBytes };
  }

  async putIfAbsent(key: string, data: Buffer | Readable): Promise<{ created: boolean; sizeBytes: number }> {
    const path = this.pathToWrite(key, data);
    const { temporary, sizeBytes } = await this.writeTemporary(path, data);
    try {
      // Unlike rename, link never replaces: of racing writers exactly one gets the name.
      await link(temporary, path);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      return { created: false, sizeBytes: (await stat(path)).size };
    } finally {
      await rm(temporary, { force: true });
    }
    await syncFolder(dirname(path));
    return { created: true, sizeBytes };
  }

  /** The key's path; for an invalid key the stream to store is destroyed, so that its producer is not left waiting. */
  private pathToWrite(key: string, data: Buffer | Readable): string {
    try {
      return this.pathOf(key);
    } catch (error) {
      if (!Buffer.isBuffer(data)) data.destroy();
      throw error;
    }
  }

  /**
   * Writes the bytes to a new temporary file beside `path`, flushed to disk. A stream is joined
   * to the file (through `through`) with pipeline() in this call's first, synchronous step: an
   * error it emits while the file is being opened is this call's rejection, never an unhandled
   * 'error' event, and the stream is destroyed whenever the write fails, so whatever feeds it is
   * not left waiting. The folder is created only when the file cannot be opened for lack of it,
   * so a common write costs no extra call, and a folder removed by someone else is made again.
   */
  private async writeTemporary(path: string, data: Buffer | Readable, through?: Transform): Promise<{ temporary: string; sizeBytes: number }> {
    const temporary = `${path}.${randomUUID()}.tmp`;
    let sizeBytes = 0;
    const writeFile = async (chunks: AsyncIterable<Buffer | string> | Iterable<Buffer>) => {
      const handle = await openNew(temporary).catch(async (error: unknown) => {
        if (!isNotFound(error)) throw error;
        await mkdir(dirname(path), { recursive: true });
        return openNew(temporary);
      });
      try {
        for await (const chunk of chunks) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          // A write may take only part of the bytes (a full disk about to fail, a signal).
          for (let offset = 0; offset < bytes.length; ) offset += (await handle.write(bytes, offset)).bytesWritten;
          sizeBytes += bytes.length;
        }
        await handle.datasync();
      } finally {
        await handle.close();
      }
    };
    try {
      if (Buffer.isBuffer(data)) await writeFile([data]);
      else if (data.destroyed) {
        // pipeline() never settles for a source destroyed before it with a transform after it.
        through?.destroy();
        throw data.errored ?? Object.assign(new Error('Premature close: the stream was destroyed before it could be stored'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      } else await (through ? pipeline(data, through, writeFile) : pipeline(data, writeFile));
      return { temporary, sizeBytes };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async read(key: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async openReadStream(key: string): Promise<{ stream: Readable; sizeBytes: number }> {
    const path = this.pathOf(key);
    const size = await this.sizeOf(key);
    if (size === null) throw new BlobNotFoundError(key);
    return { stream: createReadStream(path), sizeBytes: size };
  }

  async sizeOf(key: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(key))).size;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  localPath(key: string): string {
    return this.pathOf(key);
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  /**
   * Every key is checked before anything is removed, so a bad key in a batch removes nothing.
   * A folder left empty (an attempt's outputs) goes too: a later put makes it again.
   */
  async deleteMany(keys: readonly string[]): Promise<Array<number | null>> {
    const paths = keys.map((key) => this.pathOf(key));
    const sizes: Array<number | null> = new Array(paths.length).fill(null);
    const folders = new Set<string>();
    for (let start = 0; start < paths.length; start += DELETE_CONCURRENCY) {
      await Promise.all(
        paths.slice(start, start + DELETE_CONCURRENCY).map(async (path, offset) => {
          try {
            sizes[start + offset] = (await stat(path)).size;
          } catch (error) {
            if (isNotFound(error)) return;
            throw error;
          }
          await rm(path, { force: true });
          folders.add(dirname(path));
        }),
      );
    }
    for (const folder of folders) await this.removeEmptyFolders(folder);
    return sizes;
  }

  /** Removes `folder` and its parents while they are empty, below the top folder of a key (`outputs`, `uploads`). */
  private async removeEmptyFolders(folder: string): Promise<void> {
    for (let current = folder; dirname(current) !== this.root && current.startsWith(this.root + sep); current = dirname(current)) {
      try {
        await rmdir(current);
      } catch (error) {
        if (isNotFound(error)) continue;
        // Not empty (another object, or a write under way): leave it and its parents.
        if (errorCode(error) === 'ENOTEMPTY' || errorCode(error) === 'EEXIST') return;
        throw error;
      }
    }
  }
}

/** Files removed at once by deleteMany: enough to overlap the calls, few enough to spare the file descriptors. */
const DELETE_CONCURRENCY = 32;

/** A file that must not exist yet (each temporary name is new). */
function openNew(path: string): Promise<FileHandle> {
  return open(path, 'wx');
}

/** Flushes a folder's entries, so that a name just put in place is on disk too. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
