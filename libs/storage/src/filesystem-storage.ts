import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import {
  access,
  link,
  mkdir,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import {
  BlobNotFoundError,
  BlobStorage,
  checkStorageKey,
  DownloadUrlOptions,
  PutOptions,
  StorageConfigurationError,
} from './blob-storage';
import { foldersToSyncAfterMaking, GroupSync } from './folder-sync';
import { destroyedBeforeStored, locationToWrite } from './stream-input';

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function isNotFound(error: unknown): boolean {
  return errorCode(error) === 'ENOENT';
}

/** Waits for `step`; should it fail, the temporary file goes too. */
async function orRemove(temporary: string, step: Promise<void>): Promise<void> {
  try {
    await step;
  } catch (error) {
    await removeFile(temporary);
    throw error;
  }
}

/**
 * Storage in a folder shared by every process (a volume in compose and
 * Kubernetes). Writes go to a temporary file in the same folder and are
 * flushed; then the object's name is put in place (a rename replaces, a link
 * creates only) and the folder itself is flushed, as is the parent of a folder
 * a write makes, so that a stored object survives a power loss.
 */
export class FilesystemBlobStorage extends BlobStorage {
  readonly remote = false;
  private readonly root: string;
  /**
   * Folders known to be there, each with the flush of its entry in its parent
   * (a promise, as a write into a folder another write has just made must wait
   * for that flush too): a write into one of them opens its file at once, a
   * write elsewhere makes the folder first.
   */
  private readonly knownFolders = new Map<string, Promise<void>>();
  private readonly folderSyncs = new GroupSync(syncFolder);

  constructor(root: string) {
    super();
    this.root = resolve(root);
  }

  private pathOf(key: string): string {
    checkStorageKey(key);
    const path = join(this.root, ...key.split('/'));
    if (!path.startsWith(this.root + sep))
      throw new Error(`Invalid storage key: ${JSON.stringify(key)}`);
    return path;
  }

  async put(
    key: string,
    data: Buffer | Readable,
    through?: Transform,
  ): Promise<{ sizeBytes: number }> {
    const path = this.pathToWrite(key, data);
    const { temporary, sizeBytes, folderDurable } = await this.writeTemporary(
      path,
      data,
      through,
    );
    await orRemove(temporary, rename(temporary, path));
    await Promise.all([this.folderSyncs.after(dirname(path)), folderDurable]);
    return { sizeBytes };
  }

  /**
   * A folder keeps no checksum: `options.sha256` is for the caller to record.
   */
  async putIfAbsent(
    key: string,
    data: Buffer | Readable,
    _options?: PutOptions,
  ): Promise<{ created: boolean; sizeBytes: number }> {
    const path = this.pathToWrite(key, data);
    const { temporary, sizeBytes, folderDurable } = await this.writeTemporary(
      path,
      data,
    );
    try {
      // Unlike rename, link never replaces: of racing writers exactly one gets
      // the name.
      await orRemove(temporary, link(temporary, path));
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      return { created: false, sizeBytes: (await stat(path)).size };
    }
    await Promise.all([
      removeFile(temporary),
      this.folderSyncs.after(dirname(path)),
      folderDurable,
    ]);
    return { created: true, sizeBytes };
  }

  private pathToWrite(key: string, data: Buffer | Readable): string {
    return locationToWrite(key, data, (valid) => this.pathOf(valid));
  }

  /**
   * Writes the bytes to a new temporary file beside `path`, flushed to disk;
   * `folderDurable` settles once the folder's own entry is on disk too. A
   * stream is joined to the file (through `through`) with pipeline() in this
   * call's first, synchronous step: an error it emits while the file is being
   * opened is this call's rejection, never an unhandled 'error' event, and the
   * stream is destroyed whenever the write fails, so whatever feeds it is not
   * left waiting.
   */
  private async writeTemporary(
    path: string,
    data: Buffer | Readable,
    through?: Transform,
  ): Promise<{
    temporary: string;
    sizeBytes: number;
    folderDurable: Promise<void>;
  }> {
    const temporary = `${path}.${randomUUID()}.tmp`;
    let sizeBytes = 0;
    let folderDurable: Promise<void> = Promise.resolve();
    const writeFile = async (
      chunks: AsyncIterable<Buffer | string> | Iterable<Buffer>,
    ) => {
      const opened = await this.openInFolder(temporary, dirname(path));
      folderDurable = opened.folderDurable;
      try {
        for await (const chunk of chunks) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          // A write may take only part of the bytes (a full disk about to fail,
          // a signal).
          for (let offset = 0; offset < bytes.length;)
            offset += await writeSome(opened.fd, bytes, offset);
          sizeBytes += bytes.length;
        }
        await fdatasync(opened.fd);
      } finally {
        await close(opened.fd);
      }
    };
    try {
      if (Buffer.isBuffer(data)) await writeFile([data]);
      else if (data.destroyed) throw destroyedBeforeStored(data, through);
      else
        await (through
          ? pipeline(data, through, writeFile)
          : pipeline(data, writeFile));
      return { temporary, sizeBytes, folderDurable };
    } catch (error) {
      await removeFile(temporary);
      throw error;
    }
  }

  /**
   * Opens a new file in `folder`. A folder not known to be there is made first
   * (one call, where a failed open would cost two), and the folders that gained
   * an entry are flushed meanwhile; a known folder found gone (removed by
   * someone else) is made again.
   */
  private async openInFolder(
    file: string,
    folder: string,
  ): Promise<{ fd: number; folderDurable: Promise<void> }> {
    const known = this.knownFolders.get(folder);
    if (known) {
      try {
        return { fd: await openNew(file), folderDurable: known };
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.forgetFolder(folder);
      }
    }
    const firstMade = await mkdir(folder, { recursive: true });
    const folderDurable = Promise.all(
      foldersToSyncAfterMaking(this.root, folder, firstMade).map((parent) =>
        this.folderSyncs.after(parent),
      ),
    ).then(() => undefined);
    this.rememberFolder(folder, folderDurable);
    return { fd: await openNew(file), folderDurable };
  }

  private rememberFolder(folder: string, durable: Promise<void>): void {
    this.knownFolders.delete(folder);
    this.knownFolders.set(folder, durable);
    // A folder whose flush failed is made and flushed again by the next write
    // into it.
    durable.catch(() => {
      if (this.knownFolders.get(folder) === durable) this.forgetFolder(folder);
    });
    // Most folders take the outputs of one job: the oldest are forgotten first.
    if (this.knownFolders.size > KNOWN_FOLDERS_LIMIT)
      this.knownFolders.delete(this.knownFolders.keys().next().value!);
  }

  private forgetFolder(folder: string): void {
    this.knownFolders.delete(folder);
  }

  async read(key: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key);
      throw error;
    }
  }

  /**
   * A folder keeps no checksum of its own: `sha256` is null, and readers check
   * the one recorded.
   */
  async openReadStream(
    key: string,
    range?: { start: number; end: number },
  ): Promise<{ stream: Readable; sizeBytes: number; sha256: null }> {
    const path = this.pathOf(key);
    const size = await this.sizeOf(key);
    if (size === null) throw new BlobNotFoundError(key);
    return {
      stream: fs.createReadStream(path, range),
      sizeBytes: size,
      sha256: null,
    };
  }

  /** A folder has no links to hand out: results go through the producer. */
  downloadUrl(_key: string, _options: DownloadUrlOptions): Promise<null> {
    return Promise.resolve(null);
  }

  /** The folder is there (made if need be) and this process may write in it. */
  async probe(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, fs.constants.W_OK);
    } catch (error) {
      throw new StorageConfigurationError(
        `The storage folder ${this.root} cannot be used: ${(error as Error).message}`,
      );
    }
  }

  async close(): Promise<void> {}

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
    await removeFile(this.pathOf(key));
  }

  /**
   * Every key is checked before anything is removed, so a bad key in a batch
   * removes nothing. A folder left empty (an attempt's outputs) goes too: a
   * later put makes it again.
   */
  async deleteMany(keys: readonly string[]): Promise<Array<number | null>> {
    const paths = keys.map((key) => this.pathOf(key));
    const sizes = Array.from(
      { length: paths.length },
      (): number | null => null,
    );
    const folders = new Set<string>();
    for (let start = 0; start < paths.length; start += DELETE_CONCURRENCY) {
      await Promise.all(
        paths
          .slice(start, start + DELETE_CONCURRENCY)
          .map(async (path, offset) => {
            try {
              sizes[start + offset] = (await stat(path)).size;
            } catch (error) {
              if (isNotFound(error)) return;
              throw error;
            }
            await removeFile(path);
            folders.add(dirname(path));
          }),
      );
    }
    for (const folder of folders) await this.removeEmptyFolders(folder);
    return sizes;
  }

  /**
   * Removes `folder` and its parents while they are empty, below the top folder
   * of a key (`outputs`, `uploads`).
   */
  private async removeEmptyFolders(folder: string): Promise<void> {
    for (
      let current = folder;
      dirname(current) !== this.root && current.startsWith(this.root + sep);
      current = dirname(current)
    ) {
      try {
        await rmdir(current);
        this.forgetFolder(current);
      } catch (error) {
        if (isNotFound(error)) continue;
        // Not empty (another object, or a write under way): leave it and its
        // parents.
        if (errorCode(error) === 'ENOTEMPTY' || errorCode(error) === 'EEXIST')
          return;
        throw error;
      }
    }
  }
}

/**
 * Files removed at once by deleteMany: enough to overlap the calls, few enough
 * to spare the file descriptors.
 */
const DELETE_CONCURRENCY = 32;

/**
 * Folders remembered as there; enough for every job a worker has under way,
 * with its variants.
 */
const KNOWN_FOLDERS_LIMIT = 1024;

// The callback API on plain descriptors: a FileHandle costs an object, and a
// promise of its own kind, per call.
const openFile = promisify(fs.open);
const close = promisify(fs.close);
const fdatasync = promisify(fs.fdatasync);
const fsync = promisify(fs.fsync);

/**
 * Writes from `offset` on; gives how many bytes were written, maybe fewer than
 * asked.
 */
function writeSome(fd: number, bytes: Buffer, offset: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.write(
      fd,
      bytes,
      offset,
      bytes.length - offset,
      null,
      (error, written) => (error ? reject(error) : resolve(written)),
    ),
  );
}

/** A file that must not exist yet (each temporary name is new). */
function openNew(path: string): Promise<number> {
  return openFile(path, 'wx');
}

/**
 * Removes a file; one already gone, or whose folder is not there, is not an
 * error.
 */
async function removeFile(path: string): Promise<void> {
  await unlink(path).catch((error: unknown) => {
    if (!isNotFound(error) && errorCode(error) !== 'ENOTDIR') throw error;
  });
}

/**
 * Flushes a folder's entries, so that a name just put in place is on disk too.
 */
async function syncFolder(dir: string): Promise<void> {
  const fd = await openFile(dir, 'r');
  try {
    await fsync(fd);
  } finally {
    await close(fd);
  }
}
