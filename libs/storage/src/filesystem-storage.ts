import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { FileHandle, link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
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

  async put(key: string, data: Buffer | Readable): Promise<{ sizeBytes: number }> {
    const path = this.pathOf(key);
    const { temporary, sizeBytes } = await this.writeTemporary(path, data);
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
    const path = this.pathOf(key);
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

  /**
   * Writes the bytes to a new temporary file beside `path`, flushed to disk. The folder is
   * created only when the file cannot be opened for lack of it, so a common write costs no
   * extra call, and a folder removed by someone else is simply made again.
   */
  private async writeTemporary(path: string, data: Buffer | Readable): Promise<{ temporary: string; sizeBytes: number }> {
    const temporary = `${path}.${randomUUID()}.tmp`;
    const handle = await openNew(temporary).catch(async (error: unknown) => {
      if (!isNotFound(error)) throw error;
      await mkdir(dirname(path), { recursive: true });
      return openNew(temporary);
    });
    try {
      try {
        let sizeBytes = 0;
        for await (const chunk of Buffer.isBuffer(data) ? [data] : data) {
          const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
          // A write may take only part of the bytes (a full disk about to fail, a signal).
          for (let offset = 0; offset < bytes.length; ) offset += (await handle.write(bytes, offset)).bytesWritten;
          sizeBytes += bytes.length;
        }
        await handle.datasync();
        return { temporary, sizeBytes };
      } finally {
        await handle.close();
      }
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
}

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
