import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { MetricsServer } from '@pipeline/metrics';
import { Topology } from '@pipeline/messaging';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProducer } from '../../apps/producer/src/producer.app';
import { makeImage } from '../support/images';
import {
  createTestDatabase,
  DATABASE_PORT,
  deleteTopology,
  makeTempDir,
  uniqueName,
} from '../support/resources';
import { TcpProxy } from '../support/tcp-proxy';
import { adminFetch } from '../support/api-keys';
import { producerTestConfig } from '../support/producer-config';

describe('Producer while PostgreSQL is down (real database behind a proxy)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let proxy: TcpProxy;
  let app: NestFastifyApplication;
  const prefix = uniqueName('dbdown');

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    await writeFile(
      join(folder.path, 'images', 'photo.jpg'),
      await makeImage(32, 32),
    );
    proxy = new TcpProxy('127.0.0.1', DATABASE_PORT);
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxy.port);
    app = await startProducer(
      producerTestConfig({
        DATABASE_URL: viaProxy.toString(),
        AMQP_PREFIX: prefix,
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: join(folder.path, 'images'),
      }),
    );
  });

  afterAll(async () => {
    proxy.heal();
    await app.close();
    await proxy.stop();
    await deleteTopology(new Topology(prefix, 1));
    await database.drop();
    await folder.remove();
  });

  it('answers 503 with Retry-After, keeps no upload, reports not ready, and accepts again once it is back', async () => {
    const base = await app.getUrl();
    const submit = () =>
      adminFetch(`${base}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ source: { path: 'photo.jpg' }, operations: [] }),
      });
    const uploads = () =>
      existsSync(join(folder.path, 'storage', 'uploads'))
        ? readdirSync(join(folder.path, 'storage', 'uploads'))
        : [];
    expect((await submit()).status).toBe(202);
    const uploadsBefore = uploads();

    proxy.refuse();
    const refused = await submit();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { message: string }).message).toContain(
      'the database is unavailable',
    );
    const form = new FormData();
    form.append('image', new Blob([await makeImage(16, 16)]), 'a.jpg');
    form.append('operations', '[]');
    expect(
      (await adminFetch(`${base}/v1/jobs`, { method: 'POST', body: form }))
        .status,
    ).toBe(503);
    expect(uploads()).toEqual(uploadsBefore);
    expect((await adminFetch(`${base}/health/ready`)).status).toBe(503);
    // Which dependency is down: for admin keys on the API port, for anyone on
    // the metrics port; never why.
    const down = {
      status: 'error',
      info: { rabbitmq: { status: 'up' } },
      error: { postgres: { status: 'down' } },
      details: { rabbitmq: { status: 'up' }, postgres: { status: 'down' } },
    };
    const open = await fetch(`${base}/health/ready`);
    expect({ status: open.status, body: await open.json() }).toEqual({
      status: 503,
      body: { status: 'error' },
    });
    expect(await (await adminFetch(`${base}/health/ready`)).json()).toEqual(
      down,
    );
    const internal = await fetch(
      `http://127.0.0.1:${app.get(MetricsServer).port}/health/ready`,
    );
    expect({ status: internal.status, body: await internal.json() }).toEqual({
      status: 503,
      body: down,
    });

    proxy.heal();
    expect((await submit()).status).toBe(202);
    expect((await adminFetch(`${base}/health/ready`)).status).toBe(200);
  });
});
