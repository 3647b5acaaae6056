import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CephRgw } from '../support/ceph-rgw';
import { runScenario, sleep } from './scenario';
import { summaryLine, sumTallies, Tally } from './tally';

/**
 * The built pipeline with its blobs in a bucket of a Ceph RGW of the test's own
 * (no shared folder), under a steady load of JSON jobs and uploads, while the
 * gateway is killed (SIGKILL) and started again: the producer refuses uploads
 * meanwhile (503, not accepted), the workers' writes fail past the SDK's
 * retries and go through the job retry ladder. No accepted job may be lost or
 * finish twice, none may fail, and every recorded output must be in the bucket
 * with the checksum recorded for it. Only this test's gateway is touched; the
 * machine's broker and database stay up.
 */
describe('fault injection with S3 storage (Ceph RGW)', () => {
  const SCENARIO_TIMEOUT_MS = 300_000;
  const OUTAGE_MS = 6000;
  const bucket = 'pipeline-faults';
  const tallies: Tally[] = [];
  let rgw: CephRgw;
  let s3: S3Client;
  let storageEnv: Record<string, string>;

  beforeAll(async () => {
    rgw = await CephRgw.shared();
    s3 = new S3Client({
      endpoint: rgw.s3.endpoint,
      region: rgw.s3.region,
      forcePathStyle: true,
      credentials: {
        accessKeyId: rgw.s3.accessKeyId,
        secretAccessKey: rgw.s3.secretAccessKey,
      },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    storageEnv = {
      STORAGE_URL: `s3://${bucket}/faults`,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ENDPOINT_URL_S3: rgw.s3.endpoint,
      AWS_REGION: rgw.s3.region,
      AWS_ACCESS_KEY_ID: rgw.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: rgw.s3.secretAccessKey,
      // Short enough that a job outlasts a gateway outage within its tries.
      RETRY_DELAYS_MS: '1000,3000,10000',
    };
  }, 180_000);

  afterAll(async () => {
    s3?.destroy();
    await rgw?.stop();
  });

  it(
    'kill -9 of the RGW under load, then its restart: every accepted job finishes once, its outputs in the bucket as recorded',
    () =>
      runScenario(
        {
          name: 'rgw-restart',
          pipeline: { env: storageEnv },
          load: { ratePerSecond: 10 },
          loadMs: 16_000,
          fault: async ({ pipeline, load, pool }) => {
            const before = load.accepted.length;
            const killedAt = Date.now();
            try {
              await rgw.killGateway();
              await sleep(OUTAGE_MS);
            } finally {
              await rgw.startGateway();
            }
            const during = load.answeredWithin(
              killedAt + 500,
              killedAt + OUTAGE_MS,
            );
            return async () => {
              expect(load.accepted.length).toBeGreaterThan(before);
              // Uploads had nowhere to go: refused with 503, never accepted and
              // then lost.
              expect(
                during.some((submission) => submission.status === 503),
              ).toBe(true);
              const retried = await pool.query<{ jobs: number }>(
                `SELECT count(DISTINCT job_id)::int AS jobs FROM job_events WHERE type = 'retrying'`,
              );
              expect(retried.rows[0].jobs).toBeGreaterThan(0);
              const { rows } = await pool.query<{
                storage_key: string;
                size_bytes: string;
                sha256: string | null;
              }>('SELECT storage_key, size_bytes, sha256 FROM job_outputs');
              expect(rows.length).toBeGreaterThan(0);
              for (const row of rows) {
                const head = await s3.send(
                  new HeadObjectCommand({
                    Bucket: bucket,
                    Key: `faults/${row.storage_key}`,
                  }),
                );
                expect({
                  key: row.storage_key,
                  size: head.ContentLength,
                  sha256: head.Metadata?.sha256,
                }).toEqual({
                  key: row.storage_key,
                  size: Number(row.size_bytes),
                  sha256: row.sha256,
                });
              }
              expect(
                (
                  await s3.send(
                    new ListMultipartUploadsCommand({ Bucket: bucket }),
                  )
                ).Uploads ?? [],
              ).toEqual([]);
              expect(
                pipeline.names.every((name) => pipeline.isRunning(name)),
              ).toBe(true);
            };
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it('adds up: no accepted job lost or duplicated', () => {
    const total = sumTallies(tallies);
    process.stdout.write(`${summaryLine(total)}\n`);
    expect({
      scenarios: tallies.length,
      lost: total.lost,
      duplicated: total.duplicated,
    }).toEqual({ scenarios: 1, lost: 0, duplicated: 0 });
  });
});
