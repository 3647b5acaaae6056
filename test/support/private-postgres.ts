import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import {
  appendFile,
  chmod,
  chown,
  copyFile,
  mkdir,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TestCertificates } from './certificates';

const run = promisify(execFile);

/**
 * The newest PostgreSQL server installed (Debian keeps each major in
 * /usr/lib/postgresql/<major>/bin).
 */
export function postgresBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root).filter((name) =>
        existsSync(join(root, name, 'bin', 'initdb')),
      )
    : [];
  const newest = majors.sort((a, b) => Number(b) - Number(a))[0];
  return newest ? join(root, newest, 'bin') : undefined;
}

/**
 * A PostgreSQL server of a test run's own: its data folder, its port, and how
 * to stop it (as a crash would) and start it again.
 */
export interface PrivatePostgres {
  port: number;
  dataDir: string;
  /** `postgres://postgres@127.0.0.1:<port>`: add `/<database>`. */
  baseUrl: string;
  /**
   * Stops the server the hard way (`-m immediate`): no checkpoint, connections
   * cut.
   */
  stop: () => Promise<void>;
  /** Starts it again on its data and waits until it accepts connections. */
  start: () => Promise<void>;
}

/**
 * Starts a server of its own (initdb into `dir`, trust auth on loopback, its
 * socket in `dir`), leaving every other server on the machine as it is. As
 * root, the server runs as the postgres user (PostgreSQL refuses root), which
 * must be able to reach `dir`. With `tls`, it accepts only TLS connections with
 * that certificate. Every setting goes into postgresql.conf, so `start` after
 * `stop` needs nothing more.
 */
export async function startPostgres(
  dir: string,
  port: number,
  options: { tls?: TestCertificates } = {},
): Promise<PrivatePostgres> {
  const bin = postgresBinaries();
  if (!bin)
    throw new Error(
      'PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb): apt-get install postgresql',
    );
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const owner = process.getuid?.() === 0 ? await postgresIds() : undefined;
  if (owner)
    for (const path of [dir, dataDir]) await chown(path, owner.uid, owner.gid);
  await asServerOwner([
    join(bin, 'initdb'),
    '-D',
    dataDir,
    '-A',
    'trust',
    '-U',
    'postgres',
    '--no-sync',
    '--no-instructions',
  ]);

  const settings = [
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${dir}'`,
    'fsync = off',
    'full_page_writes = off',
    'max_connections = 200',
  ];
  let hba = 'local all all trust\nhost all all 127.0.0.1/32 trust\n';
  if (options.tls) {
    // The server reads its key only if it owns it and no one else may read it.
    const cert = join(dir, 'server.pem');
    const key = join(dir, 'server.key');
    await copyFile(options.tls.cert, cert);
    await copyFile(options.tls.key, key);
    if (owner)
      for (const path of [cert, key]) await chown(path, owner.uid, owner.gid);
    await chmod(key, 0o600);
    settings.push(
      'ssl = on',
      `ssl_cert_file = '${cert}'`,
      `ssl_key_file = '${key}'`,
    );
    hba =
      'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n';
  }
  await appendFile(
    join(dataDir, 'postgresql.conf'),
    `\n${settings.join('\n')}\n`,
  );
  await writeFile(join(dataDir, 'pg_hba.conf'), hba);

  const control = postgresControl(dir);
  await control.start();
  return {
    port,
    dataDir,
    baseUrl: `postgres://postgres@127.0.0.1:${port}`,
    ...control,
  };
}

/**
 * Stop and start for the server `startPostgres` made in `dir` (from any
 * process).
 */
export function postgresControl(
  dir: string,
): Pick<PrivatePostgres, 'start' | 'stop'> {
  const bin = postgresBinaries()!;
  const dataDir = join(dir, 'data');
  return {
    start: () =>
      asServerOwner([
        join(bin, 'pg_ctl'),
        '-D',
        dataDir,
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-t',
        '60',
        'start',
      ]),
    stop: () =>
      asServerOwner([
        join(bin, 'pg_ctl'),
        '-D',
        dataDir,
        '-m',
        'immediate',
        '-w',
        'stop',
      ]),
  };
}

/**
 * Runs a server command as the user the server runs as: postgres when we are
 * root (PostgreSQL refuses root), else ourselves. In a session of its own
 * (`setsid`), which the server started keeps: with the kernel's autogroup
 * scheduling it then gets its share of the CPU, as a service does, rather than
 * one slice with the apps under test.
 */
async function asServerOwner(args: string[]): Promise<void> {
  const command =
    process.getuid?.() === 0
      ? ['runuser', '-u', 'postgres', '--', ...args]
      : args;
  await run('setsid', command, { timeout: 120_000 });
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string) =>
    Number((await run('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}
