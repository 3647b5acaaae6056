import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';

/** A requested path that is not a readable file inside the images folder. */
export class ImagePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImagePathError';
  }
}

/**
 * The read-only folder that JSON jobs name their inputs in. Every path is
 * checked twice: by its text (no absolute paths, no `..`) and by where it
 * really leads (no symlink out).
 */
export class ImagesFolder {
  private readonly root: string;
  private realRoot?: Promise<string>;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * The real path of a file inside the folder; throws ImagePathError otherwise.
   */
  async resolve(relativePath: string, field = 'source.path'): Promise<string> {
    if (relativePath.includes('\0'))
      throw new ImagePathError(`${field} must not contain NUL characters`);
    if (isAbsolute(relativePath) || /^[A-Za-z]:[\\/]/.test(relativePath)) {
      throw new ImagePathError(
        `${field} must be relative to the images folder, not absolute`,
      );
    }
    if (relativePath.split(/[\\/]/).includes('..'))
      throw new ImagePathError(`${field} must not contain ".." segments`);
    this.realRoot ??= realpath(this.root).catch(() => {
      this.realRoot = undefined;
      throw new ImagePathError(
        'the images folder does not exist on this server',
      );
    });
    const root = await this.realRoot;
    let real: string;
    try {
      real = await realpath(resolve(root, relativePath));
    } catch {
      throw new ImagePathError(
        `${field} "${relativePath}" does not exist in the images folder`,
      );
    }
    if (!real.startsWith(root + sep))
      throw new ImagePathError(
        `${field} "${relativePath}" leads outside the images folder`,
      );
    if (!(await stat(real)).isFile())
      throw new ImagePathError(`${field} "${relativePath}" is not a file`);
    return real;
  }
}
