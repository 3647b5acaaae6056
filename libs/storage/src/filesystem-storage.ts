import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
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

  async put(key: string, data: Buffer | Readable, through?: Transform): Promise<{ sizeBytes: number }> {
    if (!Buffer.isBuffer(data)) return this.putStream(key, data, through);
    const path = this.pathOf(key);
    await this.ensureDir(dirname(path));
    const temporary = this.temporaryPathFor(path);
    try {
      const handle = await open(temporary, 'w');
      try {
        await handle.writeFile(data);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temporary, path);
      return { sizeBytes: data.length };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  /**
   * The stream is joined to the file in this call's first, synchronous step: an error it emits
   * while the folder is still being created is this call's rejection, never an unhandled
   * 'error' event; and the stream is destroyed whenever the write fails, so whatever feeds it
   * is not left waiting.
   */
  private async putStream(key: string, data: Readable, through: Transform | undefined): Promise<{ sizeBytes: number }> {
    if (data.destroyed) {
      // pipeline() never settles for a source destroyed before it with a transform after it.
      through?.destroy();
      throw data.errored ?? Object.assign(new Error('Premature close: the stream was destroyed before it could be stored'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    }
    let temporary: string | undefined;
    let path: string | undefined;
    let sizeBytes = 0;
    const writeFile = async (chunks: AsyncIterable<Buffer | string>) => {
      path = this.pathOf(key);
      await this.ensureDir(dirname(path));
      temporary = this.temporaryPathFor(path);
      const handle = await open(temporary, 'w');
      try {
        for await (const chunk of chunks) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          await handle.write(bytes);
          sizeBytes += bytes.length;
        }
        await handle.datasync();
      } finally {
        await handle.close();
      }
    };
    try {
      await (through ? pipeline(data, through, writeFile) : pipeline(data, writeFile));
      await rename(temporary!, path!);
      return { sizeBytes };
    } catch (error) {
      if (temporary) await rm(temporary, { force: true });
      throw error;
    }
  }

  private temporaryPathFor(path: string): string {
    return `${path}.${randomUUID()}.tmp`;
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
