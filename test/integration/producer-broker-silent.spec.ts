import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BOOTSTRAP_ADMIN_KEY_ID, JobsRepository } from '@pipeline/database';
import { Topology } from '@pipeline/messaging';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'pg';
import { startProducer } from '../../apps/producer/src/producer.app';
import { makeImage } from '../support/images';
import {
  AMQP_PORT,
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
} from '../support/resources';
import { TcpProxy } from '../support/tcp-proxy';
import { adminFetch } from '../support/api-keys';
import { producerTestConfig } from '../support/producer-config';

describe('Producer when the broker stops answering (real RabbitMQ behind a proxy)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let proxy: TcpProxy;
  let app: NestFastifyApplication;
  let pool: Pool;
  const prefix = uniqueName('silent');

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    await writeFile(
      join(folder.path, 'images', 'photo.jpg'),
      await makeImage(32, 32),
    );
    proxy = new TcpProxy('127.0.0.1', AMQP_PORT);
    await proxy.start();
    app = await startProducer(
      producerTestConfig({
        LOG_LEVEL: 'warn',
        DATABASE_URL: database.url,
        AMQP_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
        AMQP_PREFIX: prefix,
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: join(folder.path, 'images'),
        PUBLISH_TIMEOUT_MS: '1000',
      }),
    );
    pool = new Pool({ connectionString: database.url });
  });

  afterAll(async () => {
    proxy.blackhole();
    await Promise.race([
      app.close(),
      new Promise((resolve) => setTimeout(resolve, 3000)),
    ]);
    await proxy.stop();
    await pool.end();
    await deleteTopology(new Topology(prefix, 1));
    await database.drop();
    await folder.remove();
  });

  it('answers 503 when no confirm comes in time, never 202, and keeps no row of the job', async () => {
    const submit = async () =>
      adminFetch(`${await app.getUrl()}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: { path: 'photo.jpg' }, operations: [] }),
      });
    expect((await submit()).status).toBe(202);
    const rowsBefore = (
      await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs')
    ).rows[0].n;

    proxy.blackhole();
    const started = Date.now();
    const response = await submit();
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(((await response.json()) as { message: string }).message).toContain(
      'did not confirm within 1000 ms',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(
      (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs'))
        .rows[0].n,
    ).toBe(rowsBefore);
  });

  it('stops a bulk retry when the broker does not confirm, and leaves the job it could not send failed, unaudited', async () => {
    // The broker is still silent (blackholed above).
    const jobs = new JobsRepository(pool);
    const ids = [randomUUID(), randomUUID()];
    for (const id of ids) {
      await jobs.insertQueued({
        id,
        apiKeyId: BOOTSTRAP_ADMIN_KEY_ID,
        source: { kind: 'images', path: 'photo.jpg' },
        operations: [],
        output: {},
        createdAt: new Date(),
      });
      await pool.query(
        "UPDATE jobs SET status = 'failed', error_code = 'SOURCE_UNAVAILABLE', error_message = 'test' WHERE id = $1",
        [id],
      );
    }
    const response = await adminFetch(
      `${await app.getUrl()}/v1/jobs/retry-failed`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      },
    );
    expect(response.status).toBe(200);
    const report = (await response.json()) as {
      retried: unknown[];
      skipped: unknown[];
      stoppedBecause?: string;
    };
    expect(report).toMatchObject({ retried: [], skipped: [] });
    expect(report.stoppedBecause).toContain('did not confirm within 1000 ms');
    for (const id of ids)
      expect(await jobs.findById(id)).toMatchObject({
        status: 'failed',
        attempt: 1,
        error: { code: 'SOURCE_UNAVAILABLE' },
      });
    expect(
      (
        await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM audit_log WHERE action = 'job.retried'",
        )
      ).rows[0].n,
    ).toBe(0);
  });
});
