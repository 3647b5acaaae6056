import { connect } from 'amqplib';
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { adminFetch, TEST_ADMIN_KEY } from '../support/api-keys';
import { makeCertificates, TestCertificates } from '../support/certificates';
import { makeImage } from '../support/images';
import { LocalCluster, privateLayout } from '../support/local-rabbitmq';
import {
  createTestDatabase,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';
import { entryOf } from '../../scripts/dist-layout';
import { freePortBlock } from '../support/ports';

const PRODUCER = entryOf('producer');

/**
 * TLS to RabbitMQ as the README documents it: `amqps://` in AMQP_URL, and a
 * private CA given to Node with NODE_EXTRA_CA_CERTS, against a node of the
 * test's own that takes only amqps://.
 */
describe('TLS to RabbitMQ (a node of its own that accepts only amqps://)', () => {
  let folder: { path: string; remove: () => Promise<void> };
  let certificates: TestCertificates;
  let broker: LocalCluster | undefined;

  beforeAll(async () => {
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'certs'));
    certificates = makeCertificates(join(folder.path, 'certs'));
    broker = await LocalCluster.start(
      1,
      await privateLayout('tls', 1, {
        tls: {
          cert: certificates.cert,
          key: certificates.key,
          ca: certificates.ca,
        },
      }),
    );
  });

  afterAll(async () => {
    await broker?.stop();
    await folder.remove();
  });

  it('connects over amqps:// when the CA is trusted, and not otherwise or in plain AMQP', async () => {
    const node = broker!.nodes[0];
    expect(node.url).toMatch(/^amqps:\/\//);
    const connection = await connect(node.url, {
      ca: [readFileSync(certificates.ca)],
    });
    await connection.close();
    await expect(connect(node.url)).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
    await expect(
      connect(node.url, { ca: [readFileSync(certificates.otherCa)] }),
    ).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    await expect(
      connect(`amqp://guest:guest@127.0.0.1:${node.amqpPort}`),
    ).rejects.toThrow();
  });

  it('runs the producer on it with NODE_EXTRA_CA_CERTS: jobs confirmed, its connection encrypted', async () => {
    const node = broker!.nodes[0];
    const database = await createTestDatabase();
    const images = join(folder.path, 'images');
    await mkdir(images);
    await writeFile(join(images, 'photo.jpg'), await makeImage(32, 32));
    const port = await freePortBlock();
    let log = '';
    const producer: ChildProcess = spawn(process.execPath, [PRODUCER], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: certificates.ca,
        AMQP_URL: node.url,
        AMQP_PREFIX: uniqueName('tls'),
        DATABASE_URL: database.url,
        ADMIN_API_KEY: TEST_ADMIN_KEY,
        PORT: String(port),
        METRICS_PORT: '0',
        HOST: '127.0.0.1',
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: images,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    producer.stdout!.on('data', (chunk) => (log += chunk));
    producer.stderr!.on('data', (chunk) => (log += chunk));
    const exited = new Promise((resolve) => producer.on('exit', resolve));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(
        async () =>
          (await fetch(`${base}/health/ready`).then(
            (r) => r.ok,
            () => false,
          ))
            ? true
            : undefined,
        60_000,
        `the producer to be ready:\n${log}`,
      );
      const accepted = await adminFetch(`${base}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          source: { path: 'photo.jpg' },
          operations: [{ op: 'grayscale' }],
        }),
      });
      expect(accepted.status).toBe(202);
      const connections = await broker!.ctl(node, [
        'list_connections',
        '--no-table-headers',
        'ssl',
        'ssl_protocol',
        'client_properties',
      ]);
      const producerConnection = connections
        .split('\n')
        .find((line) => line.includes('producer'));
      expect(producerConnection).toMatch(/^true\s+tlsv1\.[23]/);
    } finally {
      producer.kill('SIGTERM');
      await exited;
      await database.drop();
    }
  });
});
