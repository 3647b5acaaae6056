import {
  mkdir,
  mkdtemp,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { ImagePathError, ImagesFolder } from './images-folder';

async function pathErrorOf(promise: Promise<unknown>): Promise<ImagePathError> {
  const error = await promise.then(
    () => {
      throw new Error('expected an ImagePathError, but the path was accepted');
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ImagePathError);
  return error as ImagePathError;
}

describe('ImagesFolder', () => {
  let base: string;
  let imagesDir: string;
  let outsideDir: string;
  let folder: ImagesFolder;

  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'images-folder-')));
    imagesDir = join(base, 'images');
    outsideDir = join(base, 'outside');
    await mkdir(join(imagesDir, 'sub'), { recursive: true });
    await mkdir(outsideDir);
    await writeFile(join(imagesDir, 'cat.jpg'), 'cat bytes');
    await writeFile(join(imagesDir, 'sub', 'dog.png'), 'dog bytes');
    await writeFile(join(outsideDir, 'secret.txt'), 'secret');
    folder = new ImagesFolder(imagesDir);
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  describe('paths that lead to a file inside', () => {
    it('resolves a file at the top of the folder', async () => {
      expect(await folder.resolve('cat.jpg')).toBe(join(imagesDir, 'cat.jpg'));
    });

    it('resolves a file in a subfolder', async () => {
      expect(await folder.resolve('sub/dog.png')).toBe(
        join(imagesDir, 'sub', 'dog.png'),
      );
    });

    it('resolves a path with a harmless ./ segment', async () => {
      expect(await folder.resolve('./sub/dog.png')).toBe(
        join(imagesDir, 'sub', 'dog.png'),
      );
    });

    it('follows a symlink that stays inside the folder, to its real path', async () => {
      await symlink(
        join(imagesDir, 'sub', 'dog.png'),
        join(imagesDir, 'alias.png'),
      );
      expect(await folder.resolve('alias.png')).toBe(
        join(imagesDir, 'sub', 'dog.png'),
      );
    });

    it('works when the folder itself is reached through a symlink', async () => {
      await symlink(imagesDir, join(base, 'linked-images'));
      const linked = new ImagesFolder(join(base, 'linked-images'));
      expect(await linked.resolve('cat.jpg')).toBe(join(imagesDir, 'cat.jpg'));
    });

    it('resolves a relative root against the working directory', async () => {
      const relativeRoot = relative(process.cwd(), imagesDir);
      expect(isAbsolute(relativeRoot)).toBe(false);
      expect(await new ImagesFolder(relativeRoot).resolve('cat.jpg')).toBe(
        join(imagesDir, 'cat.jpg'),
      );
    });
  });

  describe('refused paths', () => {
    it.each([
      '/etc/passwd',
      '/cat.jpg',
      'C:\\images\\cat.jpg',
      'c:/images/cat.jpg',
    ])('refuses the absolute path %j', async (path) => {
      const error = await pathErrorOf(folder.resolve(path));
      expect(error.message).toBe(
        'source.path must be relative to the images folder, not absolute',
      );
    });

    it('refuses an absolute path that does lead into the folder', async () => {
      const error = await pathErrorOf(
        folder.resolve(join(imagesDir, 'cat.jpg')),
      );
      expect(error.message).toContain('source.path');
      expect(error.message).toContain('absolute');
    });

    it.each([
      '../outside/secret.txt',
      'sub/../../outside/secret.txt',
      'sub/../cat.jpg',
      '..',
      'sub\\..\\..\\outside\\secret.txt',
    ])('refuses %j, which has a .. segment', async (path) => {
      const error = await pathErrorOf(folder.resolve(path));
      expect(error.message).toBe('source.path must not contain ".." segments');
    });

    it('accepts names that merely contain two dots', async () => {
      await writeFile(join(imagesDir, 'a..b.jpg'), 'x');
      expect(await folder.resolve('a..b.jpg')).toBe(
        join(imagesDir, 'a..b.jpg'),
      );
    });

    it('refuses a missing file', async () => {
      const error = await pathErrorOf(folder.resolve('missing.jpg'));
      expect(error.message).toBe(
        'source.path "missing.jpg" does not exist in the images folder',
      );
    });

    it('refuses a file under a missing subfolder', async () => {
      const error = await pathErrorOf(folder.resolve('nope/cat.jpg'));
      expect(error.message).toBe(
        'source.path "nope/cat.jpg" does not exist in the images folder',
      );
    });

    it('refuses a directory', async () => {
      const error = await pathErrorOf(folder.resolve('sub'));
      expect(error.message).toBe('source.path "sub" is not a file');
    });

    it('refuses a symlink inside the folder that points outside it', async () => {
      await symlink(
        join(outsideDir, 'secret.txt'),
        join(imagesDir, 'escape.jpg'),
      );
      const error = await pathErrorOf(folder.resolve('escape.jpg'));
      expect(error.message).toBe(
        'source.path "escape.jpg" leads outside the images folder',
      );
    });

    it('refuses a file reached through a symlinked directory that points outside', async () => {
      await symlink(outsideDir, join(imagesDir, 'linked-dir'));
      const error = await pathErrorOf(folder.resolve('linked-dir/secret.txt'));
      expect(error.message).toBe(
        'source.path "linked-dir/secret.txt" leads outside the images folder',
      );
    });

    it('refuses a symlink to a sibling folder whose name starts with the folder name', async () => {
      // "<base>/images-evil" starts with "<base>/images": a check without the
      // separator would let it through.
      await mkdir(join(base, 'images-evil'));
      await writeFile(join(base, 'images-evil', 'x.jpg'), 'evil');
      await symlink(
        join(base, 'images-evil', 'x.jpg'),
        join(imagesDir, 'evil.jpg'),
      );
      const error = await pathErrorOf(folder.resolve('evil.jpg'));
      expect(error.message).toBe(
        'source.path "evil.jpg" leads outside the images folder',
      );
    });

    it('refuses a dangling symlink as missing', async () => {
      await symlink(
        join(imagesDir, 'gone.jpg'),
        join(imagesDir, 'dangling.jpg'),
      );
      const error = await pathErrorOf(folder.resolve('dangling.jpg'));
      expect(error.message).toBe(
        'source.path "dangling.jpg" does not exist in the images folder',
      );
    });

    it.each(['', '.'])('refuses %j, the folder itself', async (path) => {
      const error = await pathErrorOf(folder.resolve(path));
      expect(error.message).toContain('source.path');
    });

    it('refuses a NUL character', async () => {
      const error = await pathErrorOf(folder.resolve('cat.jpg\0.png'));
      expect(error.message).toBe('source.path must not contain NUL characters');
    });
  });

  describe('a missing images folder', () => {
    it('refuses every path with an ImagePathError', async () => {
      const missing = new ImagesFolder(join(base, 'not-there'));
      const error = await pathErrorOf(missing.resolve('cat.jpg'));
      expect(error.message).toBe(
        'the images folder does not exist on this server',
      );
    });

    it('recovers once the folder appears', async () => {
      const later = join(base, 'later');
      const laterFolder = new ImagesFolder(later);
      await pathErrorOf(laterFolder.resolve('cat.jpg'));
      await mkdir(later);
      await writeFile(join(later, 'cat.jpg'), 'now here');
      expect(await laterFolder.resolve('cat.jpg')).toBe(join(later, 'cat.jpg'));
    });
  });
});
