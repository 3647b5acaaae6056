import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ensureDatabase } from '@pipeline/database';
import { Topology } from '@pipeline/messaging';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { startProducer } from '../../apps/producer/src/producer.app';
import { adminFetch } from '../support/api-keys';
import { makeCertificates, TestCertificates } from '../support/certificates';
import { makeImage } from '../support/images';
import { PrivatePostgres, startPostgres } from '../support/private-postgres';
import { freePortBlock } from '../support/ports';
import { producerTestConfig } from '../support/producer-config';
import { deleteTopology, makeTempDir, uniqueName } from '../support/resources';

/**
 * TLS to PostgreSQL as the README documents it (`sslmode` and `sslrootcert` in
 * DATABASE_URL), against a server of the test's own that refuses connections
 * without TLS.
 */
describe('TLS to PostgreSQL (a private server that accepts only TLS)', () => {
  let folder: { path: string; remove: () => Promise<void> };
  let certificates: TestCertificates;
  let server: PrivatePostgres;
  const url = (database: string, query: string) =>
    `postgres://postgres@localhost:${server.port}/${database}?${query}`;

  beforeAll(async () => {
    folder = await makeTempDir();
    await chmod(folder.path, 0o755); // the server runs as the postgres user
    await mkdir(join(folder.path, 'certs'));
    certificates = makeCertificates(join(folder.path, 'certs'));
    server = await startPostgres(
      join(folder.path, 'pg'),
      await freePortBlock(),
      { tls: certificates },
    );
  });

  afterAll(async () => {
    await server?.stop();
    await folder.remove();
  });

  async function sslOf(connectionString: string): Promise<boolean> {
    const client = new Client({ connectionString });
    await client.connect();
    try {
      return (
        await client.query<{ ssl: boolean }>(
          'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
        )
      ).rows[0].ssl;
    } finally {
      await client.end();
    }
  }

  it('connects with sslmode=verify-full and the CA, and is refused without TLS or with another CA', async () => {
    expect(
      await sslOf(
        url('postgres', `sslmode=verify-full&sslrootcert=${certificates.ca}`),
      ),
    ).toBe(true);
    await expect(sslOf(url('postgres', 'sslmode=disable'))).rejects.toThrow(
      /no encryption|pg_hba/,
    );
    await expect(
      sslOf(
        url(
          'postgres',
          `sslmode=verify-full&sslrootcert=${certificates.otherCa}`,
        ),
      ),
    ).rejects.toThrow(/certificate/);
  });

  it('runs the producer on it: migrations, jobs recorded, every connection encrypted', async () => {
    const databaseUrl = url(
      'pipeline',
      `sslmode=verify-full&sslrootcert=${certificates.ca}`,
    );
    await ensureDatabase(databaseUrl);
    const images = join(folder.path, 'images');
    await mkdir(images);
    await writeFile(join(images, 'photo.jpg'), await makeImage(32, 32));
    const prefix = uniqueName('tls');
    let app: NestFastifyApplication | undefined;
    try {
      app = await startProducer(
        producerTestConfig({
          DATABASE_URL: databaseUrl,
          AMQP_PREFIX: prefix,
          STORAGE_DIR: join(folder.path, 'storage'),
          IMAGES_DIR: images,
        }),
      );
      const base = await app.getUrl();
      const accepted = await adminFetch(`${base}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          source: { path: 'photo.jpg' },
          operations: [{ op: 'grayscale' }],
        }),
      });
      expect(accepted.status).toBe(202);
      const { id } = (await accepted.json()) as { id: string };
      expect((await adminFetch(`${base}/v1/jobs/${id}`)).status).toBe(200);
      const client = new Client({ connectionString: databaseUrl });
      await client.connect();
      const { rows } = await client.query<{ all_tls: boolean; n: number }>(
        "SELECT bool_and(s.ssl) AS all_tls, count(*)::int AS n FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'producer'",
      );
      await client.end();
      expect(rows[0].n).toBeGreaterThan(0);
      expect(rows[0].all_tls).toBe(true);
    } finally {
      await app?.close();
      await deleteTopology(new Topology(prefix, 1));
    }
  });
});
