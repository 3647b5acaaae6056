import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Temporary folders of servers a test process starts: each names its owner, so
// that a later run can tell the servers of a process that died (and stop them)
// from those of a run still going.

const OWNER_FILE = 'owner.pid';

/** A fresh folder `<tmpdir>/<prefix>XXXXXX`, owned by this process. */
export async function makeOwnedFolder(prefix: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), prefix));
  await writeFile(join(folder, OWNER_FILE), String(process.pid));
  return folder;
}

/** The folders of `prefix` whose owner is gone (or never said who it was). */
export async function orphanedFolders(prefix: string): Promise<string[]> {
  const folders = (await readdir(tmpdir()))
    .filter((name) => name.startsWith(prefix))
    .map((name) => join(tmpdir(), name));
  const orphans: string[] = [];
  for (const folder of folders) {
    const owner = Number(
      await readFile(join(folder, OWNER_FILE), 'utf8').catch(() => '0'),
    );
    if (!owner || !processIsAlive(owner)) orphans.push(folder);
  }
  return orphans;
}

/** Whether a process with this pid exists (it may belong to another user). */
function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
