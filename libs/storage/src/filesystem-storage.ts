import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobNotFoundError, BlobStorage } from './blob-storage';

const KEY_PATTERN = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/;

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * Storage in a folder shared by every process (a volume in compose and Kubernetes).
 * Writes go to a temporary file in the same folder, are flushed, then renamed into place.
 */
export class FilesystemBlobStorage extends BlobStorage {
  private readonly root: string;
  private readonly createdDirs = new Set<string>();

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

  private async ensureDir(dir: string): Promise<void> {
    if (this.createdDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.createdDirs.add(dir);
  }

  async put(key: string, data: Buffer | Readable): Promise<{ sizeBytes: number }> {
    const path = this.pathOf(key);
    await this.ensureDir(dirname(path));
    const temporary = `${path}.${randomUUID()}.tmp`;
    try {
      if (Buffer.isBuffer(data)) {
        const handle = await open(temporary, 'w');
        try {
          await handle.writeFile(data);
          await handle.datasync();
        } finally {
          await handle.close();
        }
      } else {
        const out = createWriteStream(temporary, { flush: true });
        await pipeline(data, out);
      }
      await rename(temporary, path);
      return { sizeBytes: Buffer.isBuffer(data) ? data.length : (await stat(path)).size };
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
