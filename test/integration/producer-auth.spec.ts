import { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  ApiKeyView,
  AuditEntryView,
  BulkRetryReport,
  CreatedApiKey,
  JobEventView,
  JobView,
  ROUTE_SCOPES,
} from '@pipeline/contracts';
import { MetricsServer } from '@pipeline/metrics';
import { DeadLetterReport, Topology } from '@pipeline/messaging';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'pg';
import { startProducer } from '../../apps/producer/src/producer.app';
import { adminFetch, fetchAs, TEST_ADMIN_KEY } from '../support/api-keys';
import { AcceptedJob, readBody, readError } from '../support/http';
import { makeImage } from '../support/images';
import { producerTestConfig } from '../support/producer-config';
import {
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
} from '../support/resources';

const WINDOW_S = 3600;

describe('Who may do what: API keys, scopes, isolation and limits (two producers on the real broker and database)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let first: NestFastifyApplication;
  let second: NestFastifyApplication;
  let firstUrl: string;
  let secondUrl: string;
  let pool: Pool;
  const prefix = uniqueName('auth');
  let config: (
    extra: Record<string, string>,
  ) => ReturnType<typeof producerTestConfig>;

  const jobBody = (path = 'photo.jpg') => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      source: { path },
      operations: [{ op: 'grayscale' }],
    }),
  });

  async function createKey(
    body: Record<string, unknown>,
  ): Promise<CreatedApiKey> {
    const response = await adminFetch(`${firstUrl}/v1/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    return readBody<CreatedApiKey>(response);
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    await writeFile(
      join(folder.path, 'images', 'photo.jpg'),
      await makeImage(32, 32),
    );
    config = (extra: Record<string, string>) =>
      producerTestConfig({
        DATABASE_URL: database.url,
        AMQP_PREFIX: prefix,
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: join(folder.path, 'images'),
        RATE_LIMIT_WINDOW_S: String(WINDOW_S),
        ...extra,
      });
    first = await startProducer(config({}));
    second = await startProducer(
      config({ CORS_ORIGINS: 'https://app.example.com' }),
    );
    firstUrl = await first.getUrl();
    secondUrl = await second.getUrl();
    pool = new Pool({ connectionString: database.url });
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await pool?.end();
    await deleteTopology(new Topology(prefix, 1));
    await database.drop();
    await folder.remove();
  });

  it('answers 401 on every /v1 route without a key, with a wrong one, and with a malformed header, naming no key', async () => {
    const wrongKeys = [
      `ipk_${'0'.repeat(16)}_${'A'.repeat(43)}`,
      'not-the-admin-key-but-long-enough-to-be-one',
      `${TEST_ADMIN_KEY}x`,
    ];
    for (const route of Object.keys(ROUTE_SCOPES)) {
      const [method, path] = route.split(' ');
      const url = `${firstUrl}${path.replace('{id}', randomUUID()).replace('{name}', 'default')}`;
      const missing = await fetch(url, { method });
      expect({ route, status: missing.status }).toEqual({ route, status: 401 });
      expect(missing.headers.get('www-authenticate')).toBe(
        'Bearer realm="image-pipeline"',
      );
      expect((await readError(missing)).message).toContain(
        'Authorization: Bearer',
      );
      for (const wrong of wrongKeys) {
        const refused = await fetchAs(wrong)(url, { method });
        expect({ route, status: refused.status }).toEqual({
          route,
          status: 401,
        });
        expect(JSON.stringify(await readBody(refused))).not.toContain(wrong);
      }
      expect(
        (
          await fetch(url, {
            method,
            headers: {
              authorization: `Basic ${Buffer.from(`x:${TEST_ADMIN_KEY}`).toString('base64')}`,
            },
          })
        ).status,
      ).toBe(401);
    }
    for (const open of [
      '/health/live',
      '/health/ready',
      '/',
      '/dashboard.js',
      '/docs',
      '/docs-json',
    ])
      expect({
        open,
        status: (await fetch(`${firstUrl}${open}`)).status,
      }).toEqual({ open, status: 200 });
  });

  it('shows a created key once, lists keys without it, and stores only its SHA-256 digest', async () => {
    const created = await createKey({
      name: 'reporting',
      scopes: ['jobs:read'],
    });
    expect(created.key).toMatch(/^ipk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({
      name: 'reporting',
      scopes: ['jobs:read'],
      revokedAt: null,
      prefix: `${created.key.slice(0, 20)}_…`,
    });
    const listed = await readBody<ApiKeyView[]>(
      await adminFetch(`${secondUrl}/v1/keys`),
    );
    expect(listed.find((key) => key.id === created.id)).toMatchObject({
      name: 'reporting',
      scopes: ['jobs:read'],
    });
    expect(listed.find((key) => key.prefix === null)).toMatchObject({
      name: 'bootstrap admin (ADMIN_API_KEY)',
      scopes: ['admin'],
    });
    expect(JSON.stringify(listed)).not.toContain(created.key);
    const { rows } = await pool.query<{ key_hash: Buffer; everything: string }>(
      'SELECT key_hash, row_to_json(k)::text AS everything FROM api_keys k WHERE id = $1',
      [created.id],
    );
    expect(
      rows[0].key_hash.equals(
        createHash('sha256').update(created.key).digest(),
      ),
    ).toBe(true);
    expect(rows[0].everything).not.toContain(created.key.slice(21));
    const everywhere = await pool.query<{ text: string | null }>(
      "SELECT string_agg(row_to_json(j)::text, '') AS text FROM jobs j",
    );
    expect(everywhere.rows[0].text ?? '').not.toContain(TEST_ADMIN_KEY);
    const bad = await adminFetch(`${firstUrl}/v1/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: '', scopes: ['jobs:delete'] }),
    });
    expect(bad.status).toBe(400);
    expect((await readError(bad)).message).toEqual(
      expect.arrayContaining([
        'each of scopes must be one of jobs:write, jobs:read, admin',
        'name must be longer than or equal to 1 characters',
      ]),
    );
  });

  it('answers 403 at every scope boundary', async () => {
    const writer = fetchAs(
      (await createKey({ name: 'uploader', scopes: ['jobs:write'] })).key,
    );
    const reader = fetchAs(
      (await createKey({ name: 'viewer', scopes: ['jobs:read'] })).key,
    );
    const both = fetchAs(
      (await createKey({ name: 'app', scopes: ['jobs:write', 'jobs:read'] }))
        .key,
    );
    const accepted = await readBody<AcceptedJob>(
      await writer(`${firstUrl}/v1/jobs`, jobBody()),
    );
    expect(accepted.status).toBe('queued');
    expect((await writer(`${firstUrl}/v1/jobs/${accepted.id}`)).status).toBe(
      403,
    );
    expect((await writer(`${firstUrl}/v1/jobs`)).status).toBe(403);
    expect((await reader(`${firstUrl}/v1/jobs`, jobBody())).status).toBe(403);
    expect(
      (
        await reader(`${firstUrl}/v1/jobs/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"jobs":[]}',
        })
      ).status,
    ).toBe(403);
    for (const [method, path] of [
      ['POST', `/v1/jobs/${accepted.id}/retry`],
      ['GET', '/v1/stats'],
      ['GET', '/v1/dead-letters'],
      ['POST', '/v1/dead-letters/jobs/replay'],
      ['DELETE', '/v1/dead-letters/events'],
      ['GET', '/v1/keys'],
      ['POST', '/v1/keys'],
      ['DELETE', `/v1/keys/${randomUUID()}`],
      ['POST', `/v1/keys/${randomUUID()}/rotate`],
      ['GET', '/v1/audit'],
      ['POST', '/v1/jobs/retry-failed'],
    ]) {
      const refused = await both(`${firstUrl}${path}`, { method });
      expect({ method, path, status: refused.status }).toEqual({
        method,
        path,
        status: 403,
      });
      expect((await readError(refused)).message).toBe(
        'this API key lacks the scope admin',
      );
    }
    for (const caller of [writer, reader, both])
      expect((await caller(`${firstUrl}/v1/presets`)).status).toBe(200);
    expect(
      await readBody(await reader(`${firstUrl}/v1/keys/me`)),
    ).toMatchObject({
      name: 'viewer',
      scopes: ['jobs:read'],
      limits: { requestsPerWindow: 1200, jobsInFlight: 1000 },
    });
    expect((await adminFetch(`${firstUrl}/v1/stats`)).status).toBe(200);
  });

  it("keeps each key's jobs and Idempotency-Keys to itself: another key's job is 404, an admin sees all", async () => {
    const alice = await createKey({
      name: 'alice',
      scopes: ['jobs:write', 'jobs:read'],
    });
    const bob = await createKey({
      name: 'bob',
      scopes: ['jobs:write', 'jobs:read'],
    });
    const asAlice = fetchAs(alice.key);
    const asBob = fetchAs(bob.key);
    const job = await readBody<AcceptedJob>(
      await asAlice(`${firstUrl}/v1/jobs`, jobBody()),
    );
    for (const path of [
      `/v1/jobs/${job.id}`,
      `/v1/jobs/${job.id}/events`,
      `/v1/jobs/${job.id}/result`,
      `/v1/jobs/${job.id}/result/default`,
      `/v1/jobs/${job.id}/result/default/preview`,
      `/v1/jobs/${job.id}/input/preview`,
    ]) {
      const hidden = await asBob(`${secondUrl}${path}`);
      expect({ path, status: hidden.status }).toEqual({ path, status: 404 });
      expect((await readError(hidden)).message).toBe(
        `job ${job.id} does not exist`,
      );
    }
    expect(
      await readBody(await asAlice(`${secondUrl}/v1/jobs/${job.id}`)),
    ).toMatchObject({ id: job.id, status: 'queued', apiKeyId: alice.id });
    expect(
      (await readBody<JobView[]>(await asBob(`${firstUrl}/v1/jobs`))).map(
        (j) => j.id,
      ),
    ).not.toContain(job.id);
    expect(
      (await readBody<JobView[]>(await asAlice(`${firstUrl}/v1/jobs`))).map(
        (j) => j.id,
      ),
    ).toEqual([job.id]);
    expect(
      (
        await readBody<JobView[]>(
          await adminFetch(`${firstUrl}/v1/jobs?limit=500`),
        )
      ).map((j) => j.id),
    ).toContain(job.id);
    expect(
      await readBody(await adminFetch(`${firstUrl}/v1/jobs/${job.id}`)),
    ).toMatchObject({ apiKeyId: alice.id });
    // Listing by key: a key may name itself, an admin any key.
    const byAlice = `${firstUrl}/v1/jobs?apiKeyId=${alice.id}`;
    expect(
      (await readBody<JobView[]>(await asAlice(byAlice))).map((j) => j.id),
    ).toEqual([job.id]);
    expect(
      (await readBody<JobView[]>(await adminFetch(byAlice))).map((j) => j.id),
    ).toEqual([job.id]);
    const refused = await asBob(byAlice);
    expect(refused.status).toBe(403);
    expect((await readError(refused)).message).toBe(
      "apiKeyId: only an admin key may list another key's jobs",
    );

    const idempotent = (caller: typeof asAlice, path: string) =>
      caller(`${firstUrl}/v1/jobs`, {
        ...jobBody(path),
        headers: {
          'content-type': 'application/json',
          'idempotency-key': 'order-42',
        },
      });
    const aliceFirst = await readBody<AcceptedJob>(
      await idempotent(asAlice, 'photo.jpg'),
    );
    const bobFirst = await idempotent(asBob, 'photo.jpg');
    expect(bobFirst.status).toBe(202);
    expect((await readBody<AcceptedJob>(bobFirst)).id).not.toBe(aliceFirst.id);
    expect(
      (await readBody<AcceptedJob>(await idempotent(asAlice, 'photo.jpg'))).id,
    ).toBe(aliceFirst.id);
  });

  it("lets a key cancel its own unfinished jobs, not another key's; a finished job is 409; each cancellation is audited", async () => {
    const frank = await createKey({
      name: 'frank',
      scopes: ['jobs:write', 'jobs:read'],
    });
    const asFrank = fetchAs(frank.key);
    const job = await readBody<AcceptedJob>(
      await asFrank(`${firstUrl}/v1/jobs`, jobBody()),
    );
    const cancel = (caller: typeof asFrank, id: string) =>
      caller(`${secondUrl}/v1/jobs/${id}/cancel`, {
        method: 'POST',
        headers: { 'x-request-id': `req-cancel-${id}` },
      });

    const reader = fetchAs(
      (await createKey({ name: 'frank-reader', scopes: ['jobs:read'] })).key,
    );
    expect((await cancel(reader, job.id)).status).toBe(403);
    const stranger = fetchAs(
      (
        await createKey({
          name: 'stranger',
          scopes: ['jobs:write', 'jobs:read'],
        })
      ).key,
    );
    const hidden = await cancel(stranger, job.id);
    expect(hidden.status).toBe(404);
    expect((await readError(hidden)).message).toBe(
      `job ${job.id} does not exist`,
    );

    const cancelled = await cancel(asFrank, job.id);
    expect(cancelled.status).toBe(200);
    expect(await readBody(cancelled)).toMatchObject({
      id: job.id,
      status: 'failed',
      error: { code: 'CANCELLED', message: 'Cancelled before it finished' },
    });
    const again = await cancel(asFrank, job.id);
    expect(again.status).toBe(409);
    expect((await readError(again)).message).toBe(
      `job ${job.id} is failed already; only a queued or processing job can be cancelled`,
    );
    const timeline = await readBody<JobEventView[]>(
      await asFrank(`${firstUrl}/v1/jobs/${job.id}/events`),
    );
    expect(timeline.at(-1)).toMatchObject({
      type: 'failed',
      detail: {
        code: 'CANCELLED',
        apiKeyId: frank.id,
        requestId: `req-cancel-${job.id}`,
      },
    });

    // An admin may cancel anyone's job.
    const other = await readBody<AcceptedJob>(
      await asFrank(`${firstUrl}/v1/jobs`, jobBody()),
    );
    expect(
      (
        await adminFetch(`${firstUrl}/v1/jobs/${other.id}/cancel`, {
          method: 'POST',
        })
      ).status,
    ).toBe(200);
    const audit = await readBody<AuditEntryView[]>(
      await adminFetch(`${firstUrl}/v1/audit?action=job.cancelled`),
    );
    expect(audit.find((entry) => entry.target === job.id)).toMatchObject({
      apiKeyId: frank.id,
      apiKeyName: 'frank',
      requestId: `req-cancel-${job.id}`,
      detail: { attempt: 1, previousStatus: 'queued' },
    });
    expect(audit.find((entry) => entry.target === other.id)).toMatchObject({
      apiKeyName: 'bootstrap admin (ADMIN_API_KEY)',
    });
  });

  it('refuses a revoked key on the very next request, on every producer', async () => {
    const carol = await createKey({ name: 'carol', scopes: ['jobs:read'] });
    const asCarol = fetchAs(carol.key);
    expect((await asCarol(`${firstUrl}/v1/jobs`)).status).toBe(200);
    expect((await asCarol(`${secondUrl}/v1/jobs`)).status).toBe(200);
    const revoked = await adminFetch(`${firstUrl}/v1/keys/${carol.id}`, {
      method: 'DELETE',
    });
    expect(revoked.status).toBe(200);
    expect((await readBody<ApiKeyView>(revoked)).revokedAt).not.toBeNull();
    expect((await asCarol(`${secondUrl}/v1/jobs`)).status).toBe(401);
    expect((await asCarol(`${firstUrl}/v1/jobs`)).status).toBe(401);
    expect(
      (
        await adminFetch(`${secondUrl}/v1/keys/${carol.id}`, {
          method: 'DELETE',
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await adminFetch(`${firstUrl}/v1/keys/${randomUUID()}`, {
          method: 'DELETE',
        })
      ).status,
    ).toBe(404);
    const bootstrap = await adminFetch(
      `${firstUrl}/v1/keys/00000000-0000-4000-8000-000000000000`,
      { method: 'DELETE' },
    );
    expect(bootstrap.status).toBe(409);
    expect((await readError(bootstrap)).message).toContain(
      'change ADMIN_API_KEY',
    );
    const listed = await readBody<ApiKeyView[]>(
      await adminFetch(`${firstUrl}/v1/keys`),
    );
    expect(
      listed.find((key) => key.id === carol.id)?.lastUsedAt,
    ).not.toBeNull();
  });

  it('refuses a key once it expired, on every producer, saying so; refuses an expiry that is not in the future', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const expiring = await createKey({
      name: 'expiring',
      scopes: ['jobs:read'],
      expiresAt,
    });
    expect(expiring).toMatchObject({ expiresAt });
    const asExpiring = fetchAs(expiring.key);
    expect(
      await readBody(await asExpiring(`${secondUrl}/v1/keys/me`)),
    ).toMatchObject({ id: expiring.id, expiresAt });
    // The clock is the database's and the producer's: move the expiry instead
    // of waiting for it.
    await pool.query(
      "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
      [expiring.id],
    );
    for (const url of [firstUrl, secondUrl]) {
      const refused = await asExpiring(`${url}/v1/jobs`);
      expect(refused.status).toBe(401);
      expect((await readError(refused)).message).toMatch(
        /^the API key expired at \d{4}-\d\d-\d\dT/,
      );
    }
    for (const [body, problem] of [
      [
        { expiresAt: new Date(Date.now() - 1000).toISOString() },
        'expiresAt must be in the future',
      ],
      [
        { expiresAt: 'next tuesday' },
        'expiresAt must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z',
      ],
    ]) {
      const bad = await adminFetch(`${firstUrl}/v1/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'late',
          scopes: ['jobs:read'],
          ...(body as object),
        }),
      });
      expect(bad.status).toBe(400);
      expect((await readError(bad)).message).toEqual([
        expect.stringContaining(problem as string),
      ]);
    }
  });

  it('rotates a key: a new secret, the old one working for the overlap only, the same id, scopes and jobs', async () => {
    const rotating = await createKey({
      name: 'rotating',
      scopes: ['jobs:write', 'jobs:read'],
      jobsInFlight: 50,
    });
    const job = await readBody<AcceptedJob>(
      await fetchAs(rotating.key)(`${firstUrl}/v1/jobs`, jobBody()),
    );
    const rotate = (
      id: string,
      body: Record<string, unknown>,
      url = firstUrl,
    ) =>
      adminFetch(`${url}/v1/keys/${id}/rotate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const first = await rotate(rotating.id, {});
    expect(first.status).toBe(200);
    const second = await readBody<CreatedApiKey>(first);
    expect(second.key).toMatch(/^ipk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(second.key).not.toBe(rotating.key);
    expect(second).toMatchObject({
      id: rotating.id,
      name: 'rotating',
      scopes: ['jobs:write', 'jobs:read'],
      limits: { jobsInFlight: 50 },
      expiresAt: null,
    });
    // The default overlap is an hour.
    const overlapMs =
      new Date(second.previousSecretExpiresAt!).getTime() -
      new Date(second.rotatedAt!).getTime();
    expect(Math.abs(overlapMs - 3_600_000)).toBeLessThan(1000);
    for (const key of [rotating.key, second.key]) {
      expect(
        await readBody(await fetchAs(key)(`${secondUrl}/v1/jobs/${job.id}`)),
      ).toMatchObject({ id: job.id, apiKeyId: rotating.id });
    }
    const { rows } = await pool.query<{ key_hash: Buffer }>(
      'SELECT key_hash FROM api_keys WHERE id = $1',
      [rotating.id],
    );
    expect(
      rows[0].key_hash.equals(createHash('sha256').update(second.key).digest()),
    ).toBe(true);

    // A rotation without overlap stops the replaced secret at once; the one
    // replaced before stops too.
    const third = await readBody<CreatedApiKey>(
      await rotate(
        rotating.id,
        {
          overlapSeconds: 0,
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        },
        secondUrl,
      ),
    );
    expect(
      (await readError(await fetchAs(second.key)(`${firstUrl}/v1/jobs`)))
        .message,
    ).toMatch(
      /^the API key was rotated and its old secret stopped working at /,
    );
    expect((await fetchAs(rotating.key)(`${firstUrl}/v1/jobs`)).status).toBe(
      401,
    );
    expect(
      await readBody(await fetchAs(third.key)(`${firstUrl}/v1/keys/me`)),
    ).toMatchObject({ id: rotating.id, expiresAt: third.expiresAt });
    expect(third.expiresAt).not.toBeNull();

    // The replaced secret never outlives the key's own expiry, however long the
    // overlap.
    const shortLived = await createKey({
      name: 'short-lived',
      scopes: ['jobs:read'],
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
    });
    const rolled = await readBody<CreatedApiKey>(
      await rotate(shortLived.id, { overlapSeconds: 86_400 }),
    );
    expect(rolled.previousSecretExpiresAt).toBe(shortLived.expiresAt);
    expect(rolled.expiresAt).toBeNull();

    expect((await rotate(randomUUID(), {})).status).toBe(404);
    expect(
      (await rotate(rotating.id, { overlapSeconds: 8 * 86_400 })).status,
    ).toBe(400);
    const bootstrap = await rotate('00000000-0000-4000-8000-000000000000', {});
    expect(bootstrap.status).toBe(409);
    expect((await readError(bootstrap)).message).toContain(
      'cannot be rotated here: change ADMIN_API_KEY',
    );
    expect(
      (
        await adminFetch(`${firstUrl}/v1/keys/${rotating.id}`, {
          method: 'DELETE',
        })
      ).status,
    ).toBe(200);
    const revoked = await rotate(rotating.id, {});
    expect(revoked.status).toBe(409);
    expect((await readError(revoked)).message).toBe(
      `API key ${rotating.id} is revoked and cannot be rotated; create a new key`,
    );
    expect((await fetchAs(third.key)(`${firstUrl}/v1/jobs`)).status).toBe(401);
  });

  it('answers 429 with Retry-After past a key’s request limit, counted over both producers', async () => {
    // Not across a fixed window's end, where the previous window's count starts
    // to slide out.
    const intoWindow = Date.now() % (WINDOW_S * 1000);
    if (intoWindow > WINDOW_S * 1000 - 10_000)
      await new Promise((resolve) =>
        setTimeout(resolve, WINDOW_S * 1000 - intoWindow + 100),
      );
    const dave = fetchAs(
      (
        await createKey({
          name: 'dave',
          scopes: ['jobs:read'],
          requestsPerWindow: 5,
        })
      ).key,
    );
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await dave(
        `${i % 2 === 0 ? firstUrl : secondUrl}/v1/jobs`,
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('ratelimit-limit')).toBe('5');
      remaining.push(response.headers.get('ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    for (const url of [firstUrl, secondUrl]) {
      const limited = await dave(`${url}/v1/jobs`);
      expect(limited.status).toBe(429);
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      // Refused requests count too: the wait reaches into the next window,
      // never past it.
      expect(retryAfter).toBeLessThanOrEqual(2 * WINDOW_S);
      expect((await readError(limited)).message).toBe(
        `this API key made more than 5 requests in the last 3600 s; try again in ${retryAfter} s`,
      );
    }
    // Other keys are not affected.
    expect((await adminFetch(`${firstUrl}/v1/jobs`)).status).toBe(200);

    // A burst, counted in shared statements on both producers: exactly the
    // limit gets through.
    const burst = fetchAs(
      (
        await createKey({
          name: 'burst',
          scopes: ['jobs:read'],
          requestsPerWindow: 10,
        })
      ).key,
    );
    const statuses = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        burst(`${i % 2 === 0 ? firstUrl : secondUrl}/v1/keys/me`).then(
          (response) => response.status,
        ),
      ),
    );
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(14);
  });

  it('slides the window: a burst at the end of one fixed window still counts just after the next begins', async () => {
    const windowMs = 4000;
    const short = await startProducer(
      config({ RATE_LIMIT_WINDOW_S: String(windowMs / 1000) }),
    );
    try {
      const url = await short.getUrl();
      const slider = fetchAs(
        (
          await createKey({
            name: 'slider',
            scopes: ['jobs:read'],
            requestsPerWindow: 4,
          })
        ).key,
      );
      // The burst 2.5 s into a fixed window; the next request just after that
      // window ends.
      const sleepUntil = (at: number) =>
        new Promise((resolve) =>
          setTimeout(resolve, Math.max(0, at - Date.now())),
        );
      const windowStart = Date.now() - (Date.now() % windowMs);
      await sleepUntil(
        Date.now() % windowMs < 2500
          ? windowStart + 2500
          : windowStart + windowMs + 2500,
      );
      const burst = await Promise.all(
        Array.from({ length: 4 }, () => slider(`${url}/v1/keys/me`)),
      );
      expect(burst.map((response) => response.status)).toEqual([
        200, 200, 200, 200,
      ]);
      await sleepUntil(Date.now() - (Date.now() % windowMs) + windowMs + 100);
      // A fixed window would start again from 0 here; the sliding estimate
      // still holds nearly all 4.
      const after = await slider(`${url}/v1/keys/me`);
      expect(after.status).toBe(429);
      expect(Number(after.headers.get('retry-after'))).toBeGreaterThanOrEqual(
        1,
      );
      expect((await readError(after)).message).toMatch(
        /^this API key made more than 4 requests in the last 4 s; try again in \d+ s$/,
      );
    } finally {
      await short.close();
    }
  });

  it('answers 429 past a key’s jobs in flight, for single jobs and batches, and accepts nothing of a refused batch', async () => {
    const erin = await createKey({
      name: 'erin',
      scopes: ['jobs:write', 'jobs:read'],
      jobsInFlight: 2,
    });
    const asErin = fetchAs(erin.key);
    expect((await asErin(`${firstUrl}/v1/jobs`, jobBody())).status).toBe(202);
    expect((await asErin(`${secondUrl}/v1/jobs`, jobBody())).status).toBe(202);
    const limited = await asErin(`${firstUrl}/v1/jobs`, jobBody());
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(
      1,
    );
    expect((await readError(limited)).message).toBe(
      'this API key has 2 jobs queued or processing, and may have at most 2; wait for some to finish',
    );
    const batch = await asErin(`${secondUrl}/v1/jobs/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobs: [{ source: { path: 'photo.jpg' } }] }),
    });
    expect(batch.status).toBe(429);
    expect(
      (await readBody<JobView[]>(await asErin(`${firstUrl}/v1/jobs`))).length,
    ).toBe(2);
    await pool.query(
      "UPDATE jobs SET status = 'succeeded' WHERE api_key_id = $1",
      [erin.id],
    );
    expect((await asErin(`${firstUrl}/v1/jobs`, jobBody())).status).toBe(202);
  });

  it('sends security headers on every answer and keeps CORS closed unless origins are configured', async () => {
    for (const path of ['/', '/v1/jobs', '/health/live', '/docs']) {
      const response = await fetch(`${firstUrl}${path}`);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(response.headers.get('strict-transport-security')).toContain(
        'max-age=',
      );
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('content-security-policy')).toContain(
        "script-src 'self'",
      );
      expect(response.headers.get('content-security-policy')).not.toContain(
        "unsafe-inline'; script",
      );
    }
    const preflight = (url: string, origin: string) =>
      fetch(`${url}/v1/jobs`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
    const closed = await preflight(firstUrl, 'https://app.example.com');
    expect(closed.headers.get('access-control-allow-origin')).toBeNull();
    const simple = await adminFetch(`${firstUrl}/v1/jobs`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(simple.headers.get('access-control-allow-origin')).toBeNull();
    const allowed = await preflight(secondUrl, 'https://app.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe(
      'https://app.example.com',
    );
    expect(
      allowed.headers.get('access-control-allow-headers')?.toLowerCase(),
    ).toContain('authorization');
    expect(
      (await preflight(secondUrl, 'https://evil.example')).headers.get(
        'access-control-allow-origin',
      ),
    ).toBeNull();
  });

  it('records every change an admin makes in the audit log, with the key and the request id; a change refused leaves no entry', async () => {
    const ops = await createKey({ name: 'ops-admin', scopes: ['admin'] });
    const asOps = (
      path: string,
      init: RequestInit = {},
      requestId = `req-${randomUUID()}`,
    ) =>
      fetchAs(ops.key)(`${secondUrl}${path}`, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string>),
          'x-request-id': requestId,
        },
      });
    const post = (body: unknown): RequestInit => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

    const created = await readBody<CreatedApiKey>(
      await asOps(
        '/v1/keys',
        post({ name: 'audited', scopes: ['jobs:write', 'jobs:read'] }),
        'req-create',
      ),
    );
    expect(
      (
        await asOps(
          `/v1/keys/${created.id}/rotate`,
          post({ overlapSeconds: 60 }),
          'req-rotate',
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await asOps(
          `/v1/keys/${created.id}`,
          { method: 'DELETE' },
          'req-revoke',
        )
      ).status,
    ).toBe(200);
    // A second revocation changes nothing, and so is not audited.
    expect(
      (
        await asOps(
          `/v1/keys/${created.id}`,
          { method: 'DELETE' },
          'req-revoke-again',
        )
      ).status,
    ).toBe(200);
    // A refused change (the key is revoked) leaves no entry: the entry is
    // written with the change or not at all.
    expect(
      (await asOps(`/v1/keys/${created.id}/rotate`, post({}), 'req-refused'))
        .status,
    ).toBe(409);

    const job = await readBody<AcceptedJob>(
      await adminFetch(`${firstUrl}/v1/jobs`, jobBody()),
    );
    await pool.query(
      "UPDATE jobs SET status = 'failed', error_code = 'INTERNAL', error_message = 'test' WHERE id = $1",
      [job.id],
    );
    expect(
      (await asOps(`/v1/jobs/${job.id}/retry`, { method: 'POST' }, 'req-retry'))
        .status,
    ).toBe(202);
    const replay = await readBody<DeadLetterReport>(
      await asOps(
        '/v1/dead-letters/jobs/replay?limit=5',
        { method: 'POST' },
        'req-replay',
      ),
    );

    const entries = await readBody<AuditEntryView[]>(
      await adminFetch(`${firstUrl}/v1/audit?apiKeyId=${ops.id}`),
    );
    expect(entries.map((entry) => [entry.action, entry.requestId])).toEqual([
      ['dead-letters.jobs.replayed', 'req-replay'],
      ['job.retried', 'req-retry'],
      ['key.revoked', 'req-revoke'],
      ['key.rotated', 'req-rotate'],
      ['key.created', 'req-create'],
    ]);
    const [replayed, retried, revoked, rotated, createdEntry] = entries;
    expect(createdEntry).toMatchObject({
      apiKeyId: ops.id,
      apiKeyName: 'ops-admin',
      target: created.id,
      detail: { name: 'audited', scopes: ['jobs:write', 'jobs:read'] },
    });
    expect(rotated.detail.previousSecretExpiresAt).toEqual(expect.any(String));
    expect(revoked).toMatchObject({
      target: created.id,
      detail: { name: 'audited' },
    });
    expect(retried).toMatchObject({
      target: job.id,
      detail: { attempt: 2, previousStatus: 'failed' },
    });
    expect(replayed).toMatchObject({
      target: `${prefix}.jobs.dead`,
      detail: { limit: 5, done: replay.done.length, kept: replay.kept.length },
    });
    expect(Number(replayed.id)).toBeGreaterThan(Number(retried.id));
    // The job's timeline names who retried it.
    const events = await readBody<JobEventView[]>(
      await adminFetch(`${firstUrl}/v1/jobs/${job.id}/events`),
    );
    expect(
      events.find((event) => event.type === 'retried')?.detail,
    ).toMatchObject({ apiKeyId: ops.id, requestId: 'req-retry' });

    expect(
      await readBody(
        await adminFetch(
          `${firstUrl}/v1/audit?apiKeyId=${ops.id}&action=key.rotated`,
        ),
      ),
    ).toEqual([rotated]);
    expect(
      await readBody(
        await adminFetch(
          `${firstUrl}/v1/audit?apiKeyId=${ops.id}&limit=2&before=${retried.id}`,
        ),
      ),
    ).toEqual([revoked, rotated]);
    const bad = await adminFetch(`${firstUrl}/v1/audit?action=key.exploded`);
    expect(bad.status).toBe(400);
    expect((await readError(bad)).message).toEqual([
      expect.stringContaining('action must be one of key.created'),
    ]);
  });

  it('retries failed jobs in bulk, oldest first, by error code; cancelled ones only when asked for', async () => {
    const submit = async () =>
      (
        await readBody<AcceptedJob>(
          await adminFetch(`${firstUrl}/v1/jobs`, jobBody()),
        )
      ).id;
    const failAs = (id: string, code: string) =>
      pool.query(
        "UPDATE jobs SET status = 'failed', error_code = $2, error_message = 'test' WHERE id = $1",
        [id, code],
      );
    const older = await submit();
    const newer = await submit();
    const cancelled = await submit();
    const other = await submit();
    await failAs(older, 'SOURCE_UNAVAILABLE');
    await failAs(newer, 'SOURCE_UNAVAILABLE');
    await failAs(other, 'INTERNAL');
    expect(
      (
        await adminFetch(`${firstUrl}/v1/jobs/${cancelled}/cancel`, {
          method: 'POST',
        })
      ).status,
    ).toBe(200);
    const retryFailed = (body: unknown) =>
      adminFetch(`${secondUrl}/v1/jobs/retry-failed`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-request-id': 'req-bulk',
        },
        body: JSON.stringify(body),
      });

    const byCode = await retryFailed({ code: 'SOURCE_UNAVAILABLE', limit: 1 });
    expect(byCode.status).toBe(200);
    expect(await readBody(byCode)).toEqual({
      retried: [{ id: older, attempt: 2 }],
      skipped: [],
    });
    const rest = await readBody<BulkRetryReport>(
      await retryFailed({ limit: 1000 }),
    );
    expect(rest.retried.map((job) => job.id)).toEqual(
      expect.arrayContaining([newer, other]),
    );
    expect(rest.retried.map((job) => job.id)).not.toContain(cancelled);
    for (const id of [older, newer, other])
      expect(
        await readBody(await adminFetch(`${firstUrl}/v1/jobs/${id}`)),
      ).toMatchObject({ status: 'queued', attempt: 2 });
    expect(
      await readBody(await adminFetch(`${firstUrl}/v1/jobs/${cancelled}`)),
    ).toMatchObject({ status: 'failed', error: { code: 'CANCELLED' } });
    const asked = await readBody<BulkRetryReport>(
      await retryFailed({ code: 'CANCELLED' }),
    );
    expect(asked.retried.map((job) => job.id)).toContain(cancelled);
    const audit = await readBody<AuditEntryView[]>(
      await adminFetch(`${firstUrl}/v1/audit?action=job.retried`),
    );
    expect(
      audit.filter(
        (entry) =>
          entry.requestId === 'req-bulk' &&
          [older, newer, other, cancelled].includes(entry.target),
      ),
    ).toHaveLength(4);

    const bad = await retryFailed({ code: 'EXPLODED', limit: 0 });
    expect(bad.status).toBe(400);
    expect((await readError(bad)).message).toEqual(
      expect.arrayContaining([
        expect.stringContaining('code must be one of INVALID_IMAGE'),
        'limit must not be less than 1',
      ]),
    );
  });

  it('says on the API port only whether it is ready, unless an admin key asks; the metrics port says which dependency is up', async () => {
    const reader = await createKey({
      name: 'probe-reader',
      scopes: ['jobs:read', 'jobs:write'],
    });
    const detail = {
      status: 'ok',
      info: { rabbitmq: { status: 'up' }, postgres: { status: 'up' } },
      error: {},
      details: { rabbitmq: { status: 'up' }, postgres: { status: 'up' } },
    };
    for (const [who, ask] of [
      ['no key', fetch],
      ['a key without admin', fetchAs(reader.key)],
      ['an unknown key', fetchAs(`ipk_${'0'.repeat(16)}_${'A'.repeat(43)}`)],
      [
        'a malformed header',
        (url: string) => fetch(url, { headers: { authorization: 'Bearer' } }),
      ],
    ] as const) {
      const ready = await ask(`${firstUrl}/health/ready`);
      expect({
        who,
        status: ready.status,
        body: await readBody(ready),
      }).toEqual({ who, status: 200, body: { status: 'ok' } });
    }
    const admin = await adminFetch(`${firstUrl}/health/ready`);
    expect({ status: admin.status, body: await readBody(admin) }).toEqual({
      status: 200,
      body: detail,
    });
    const admins = await createKey({ name: 'probe-admin', scopes: ['admin'] });
    expect(
      await readBody(await fetchAs(admins.key)(`${firstUrl}/health/ready`)),
    ).toEqual(detail);

    const internal = await fetch(
      `http://127.0.0.1:${first.get(MetricsServer).port}/health/ready`,
    );
    expect(internal.status).toBe(200);
    expect(internal.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await readBody(internal)).toEqual(detail);
    expect(
      (
        await fetch(
          `http://127.0.0.1:${first.get(MetricsServer).port}/health/other`,
        )
      ).status,
    ).toBe(404);
  });

  it('serves /metrics only on the metrics port, with no key in any label', async () => {
    expect((await adminFetch(`${firstUrl}/metrics`)).status).toBe(404);
    const metrics = await fetch(
      `http://127.0.0.1:${first.get(MetricsServer).port}/metrics`,
    );
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('pipeline_http_request_duration_seconds');
    expect(text).toMatch(/status="401"/);
    expect(text).toMatch(/status="429"/);
    expect(text).not.toContain(TEST_ADMIN_KEY);
    expect(text).not.toMatch(/ipk_[0-9a-f]{16}/);
  });
});
