import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCertificates } from './certificates';

const BIN = `/usr/lib/postgresql/${process.env.TEST_PG_VERSION ?? '15'}/bin`;

export interface PrivatePostgres {
  port: number;
  stop: () => void;
}

/**
 * A PostgreSQL server of its own (initdb into `dir`, run as the postgres user), accepting only
 * TLS connections with the given certificate: the machine's server is left as it is. The
 * postgres user must be able to reach `dir` (its parents searchable).
 */
export function startTlsPostgres(dir: string, port: number, certificates: TestCertificates): PrivatePostgres {
  const asPostgres = (args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: 'pipe' });
  const { uid, gid } = postgresIds();
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  // The server reads its key only if it owns it and no one else may read it.
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server.key');
  copyFileSync(certificates.cert, cert);
  copyFileSync(certificates.key, key);
  for (const path of [dir, data, cert, key]) chownSync(path, uid, gid);
  chmodSync(key, 0o600);
  asPostgres([`${BIN}/initdb`, '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n');
  const options = ['-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`, '-c', 'fsync=off'];
  asPostgres([`${BIN}/pg_ctl`, '-D', data, '-l', join(dir, 'server.log'), '-o', options.join(' '), '-w', 'start']);
  return { port, stop: () => asPostgres([`${BIN}/pg_ctl`, '-D', data, '-m', 'immediate', '-w', 'stop']) };
}

function postgresIds(): { uid: number; gid: number } {
  const [uid, gid] = execFileSync('id', ['-u', 'postgres']).toString().trim().split('\n').concat(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid: Number(uid), gid: Number(gid) };
}
