import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface TestCertificates {
  /** The CA that signed the server certificate. */
  ca: string;
  /** A CA that signed nothing here: trusting only it must fail. */
  otherCa: string;
  cert: string;
  key: string;
}

/**
 * A CA and a server certificate for localhost and 127.0.0.1, made with openssl
 * in `dir`.
 */
export function makeCertificates(dir: string): TestCertificates {
  const openssl = (args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  for (const name of ['ca', 'other-ca']) {
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=pipeline test ${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
    ]);
  }
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  ]);
  execFileSync(
    'sh',
    [
      '-c',
      'printf "subjectAltName=DNS:localhost,IP:127.0.0.1\\n" > server.ext',
    ],
    { cwd: dir },
  );
  openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'server.ext',
    '-out',
    'server.pem',
  ]);
  return {
    ca: join(dir, 'ca.pem'),
    otherCa: join(dir, 'other-ca.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
  };
}
