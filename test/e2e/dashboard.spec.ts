import { Topology } from '@pipeline/messaging';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import sharp from 'sharp';
import { adminFetch, TEST_ADMIN_KEY } from '../support/api-keys';
import { makeImage } from '../support/images';
import {
  createTestDatabase,
  deleteTopology,
  makeTempDir,
  uniqueName,
  waitFor,
} from '../support/resources';
import { RunningStack, startStack } from '../support/stack';
import { freePortBlock } from '../support/ports';
import { STACK_PORTS } from '../support/stack';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

/**
 * Waits for an element's text. Locators, not `waitForFunction`: the page's
 * Content-Security-Policy forbids evaluating strings as script, and the test
 * must not turn it off.
 */
/** What the page keeps in its session or local storage, as JSON. */
const storage = (page: Page, kind: 'sessionStorage' | 'localStorage') =>
  page.evaluate(
    (name) =>
      JSON.stringify((globalThis as unknown as Record<string, object>)[name]),
    kind,
  );

const shows = (page: Page, id: string, text: string) =>
  page
    .locator(`#${id}`, { hasText: new RegExp(`^${text}$`) })
    .waitFor({ timeout: 20_000 });

/**
 * The dashboard in a real headless browser against the real processes: it asks
 * for an admin key, the counts move as jobs are submitted, the workers show
 * their heartbeats, and a failed job can be retried, which the operator actions
 * then show.
 */
describe('dashboard (headless Chromium)', () => {
  const prefix = uniqueName('dash');
  let database: { url: string; drop: () => Promise<void> };
  let folder: { path: string; remove: () => Promise<void> };
  let stack: RunningStack | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    folder = await makeTempDir();
    await mkdir(join(folder.path, 'images'));
    stack = await startStack(
      {
        AMQP_PREFIX: prefix,
        WORKERS: '2',
        DATABASE_URL: database.url,
        STORAGE_DIR: join(folder.path, 'storage'),
        IMAGES_DIR: join(folder.path, 'images'),
        HEARTBEAT_INTERVAL_S: '1',
      },
      await freePortBlock(STACK_PORTS),
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (stack) await stack.stop();
    await deleteTopology(new Topology(prefix, 1));
    await database.drop();
    await folder.remove();
  });

  const submit = async (path: string) => {
    const response = await adminFetch(`${stack!.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        source: { path },
        operations: [{ op: 'resize', width: 40 }],
      }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  it('asks for an admin key, keeps it out of the URL, and refuses a key without the admin scope', async () => {
    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on(
      'console',
      (message) => message.type() === 'error' && problems.push(message.text()),
    );
    await page.goto(stack!.baseUrl);
    await expect(page.title()).resolves.toBe('Image pipeline');
    await page.locator('#key-form').waitFor({ state: 'visible' });
    expect(await page.locator('#succeeded').textContent()).toBe('–');

    const reader = (await (
      await adminFetch(`${stack!.baseUrl}/v1/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'viewer', scopes: ['jobs:read'] }),
      })
    ).json()) as { key: string };
    await page.locator('#key-input').fill(reader.key);
    await page.locator('#key-form button').click();
    await page
      .locator('#error', { hasText: 'lacks the admin scope' })
      .waitFor();
    expect(await page.locator('#key-form').isVisible()).toBe(true);

    await page.locator('#key-input').fill('not a key at all');
    await page.locator('#key-form button').click();
    await page.locator('#error', { hasText: 'not accepted' }).waitFor();

    await page.locator('#key-input').fill(TEST_ADMIN_KEY);
    await page.locator('#key-form button').click();
    await shows(page, 'succeeded', '0');
    expect(await page.locator('#key-name').textContent()).toBe(
      'bootstrap admin (ADMIN_API_KEY)',
    );
    expect(page.url()).toBe(`${stack!.baseUrl}/`);
    expect(await storage(page, 'sessionStorage')).toContain(TEST_ADMIN_KEY);
    expect(await storage(page, 'localStorage')).toBe('{}');

    await page.getByRole('button', { name: 'Forget key' }).click();
    await page.locator('#key-form').waitFor({ state: 'visible' });
    expect(await storage(page, 'sessionStorage')).not.toContain(TEST_ADMIN_KEY);
    // Only the refused keys' answers: no blocked script or style (the CSP
    // allows what the page needs).
    expect(problems.filter((text) => !/status of 40[13]/.test(text))).toEqual(
      [],
    );
    await page.close();
  });

  it('shows the counts change as jobs finish, the workers, retries a failed job (which the operator actions show), and all failed jobs', async () => {
    const page = await browser!.newPage();
    await page.goto(stack!.baseUrl);
    await page.locator('#key-input').fill(TEST_ADMIN_KEY);
    await page.locator('#key-form button').click();
    await shows(page, 'succeeded', '0');

    await writeFile(
      join(folder.path, 'images', 'ok.jpg'),
      await makeImage(120, 80),
    );
    await writeFile(
      join(folder.path, 'images', 'broken.jpg'),
      Buffer.from('not an image at all'),
    );
    for (let i = 0; i < 3; i++) await submit('ok.jpg');
    const failed = await submit('broken.jpg');

    await shows(page, 'succeeded', '3');
    await shows(page, 'failed', '1');
    await page.locator('#workers tr').nth(1).waitFor({ timeout: 20_000 });
    expect(await page.locator('#workers tr').count()).toBe(2);
    expect(
      await page.locator('#workers tr td:first-child').allTextContents(),
    ).toEqual(expect.arrayContaining(['worker-1', 'worker-2']));
    const failure = page.locator(`#failures tr[data-job="${failed}"]`);
    await failure.waitFor({ timeout: 20_000 });
    expect(await failure.locator('td').nth(1).textContent()).toBe(
      'UNSUPPORTED_FORMAT',
    );

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({
      path: join(ARTIFACTS, 'dashboard.png'),
      fullPage: true,
    });

    await failure.getByRole('button', { name: 'Retry' }).click();
    await failure
      .getByRole('button', { name: 'Retried' })
      .waitFor({ timeout: 10_000 });
    const job = (await (
      await adminFetch(`${stack!.baseUrl}/v1/jobs/${failed}`)
    ).json()) as { attempt: number };
    expect(job.attempt).toBe(2);
    // The retry is in the operator actions, under the key that made it.
    const action = page.locator(
      `#audit tr[data-action="job.retried"][data-target="${failed}"]`,
    );
    await action.waitFor({ timeout: 10_000 });
    expect(await action.locator('td').nth(1).textContent()).toBe(
      'bootstrap admin (ADMIN_API_KEY)',
    );

    // Once it has failed again, "Retry all failed" (confirmed) runs it a third
    // time.
    await waitFor(
      async () =>
        (
          (await (
            await adminFetch(`${stack!.baseUrl}/v1/jobs/${failed}`)
          ).json()) as { status: string }
        ).status === 'failed'
          ? true
          : undefined,
      20_000,
      'the retried job to fail again',
    );
    page.once('dialog', (dialog) => void dialog.accept());
    await page.locator('#retry-failed').click();
    await page
      .locator('#bulk-result', { hasText: 'Retried 1, skipped 0' })
      .waitFor({ timeout: 10_000 });
    expect(
      (
        (await (
          await adminFetch(`${stack!.baseUrl}/v1/jobs/${failed}`)
        ).json()) as { attempt: number }
      ).attempt,
    ).toBe(3);
    expect(await page.locator('#error').textContent()).toBe('');
  });

  /** Once each job has finished, its final view. */
  const finished = (ids: string[]) =>
    waitFor(
      async () => {
        const views = await Promise.all(
          ids.map(
            async (id) =>
              (await (
                await adminFetch(`${stack!.baseUrl}/v1/jobs/${id}`)
              ).json()) as { id: string; status: string },
          ),
        );
        return views.every((job) =>
          ['succeeded', 'failed'].includes(job.status),
        )
          ? views
          : undefined;
      },
      20_000,
      'the jobs to finish',
    );

  /** The width the browser decoded an image at (0 until it has loaded). */
  const decodedWidth = (page: Page, selector: string) =>
    waitFor(
      async () => {
        const width = await page
          .locator(selector)
          .first()
          .evaluate(
            (image) =>
              (image as unknown as { naturalWidth: number }).naturalWidth,
          )
          .catch(() => 0);
        return width > 0 ? width : undefined;
      },
      15_000,
      `an image at ${selector} to load`,
    );

  it('pages jobs through the API by cursor, and serves bounded previews', async () => {
    await writeFile(
      join(folder.path, 'images', 'wide.jpg'),
      await makeImage(900, 300),
    );
    const ids = [await submit('wide.jpg'), await submit('wide.jpg')];
    await finished(ids);
    const first = await adminFetch(`${stack!.baseUrl}/v1/jobs?limit=1`);
    const cursor = first.headers.get('next-cursor');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(first.headers.get('link')).toBe(
      `</v1/jobs?limit=1&cursor=${cursor}>; rel="next"`,
    );
    const second = (await (
      await adminFetch(`${stack!.baseUrl}/v1/jobs?limit=1&cursor=${cursor}`)
    ).json()) as Array<{ id: string }>;
    expect([
      ((await first.json()) as Array<{ id: string }>)[0].id,
      second[0].id,
    ]).toEqual([ids[1], ids[0]]);
    const refused = await adminFetch(`${stack!.baseUrl}/v1/jobs?cursor=bm9wZQ`);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain(
      'cursor must be a nextCursor',
    );

    const preview = await adminFetch(
      `${stack!.baseUrl}/v1/jobs/${ids[0]}/input/preview`,
    );
    expect([
      preview.status,
      preview.headers.get('content-type'),
      preview.headers.get('cache-control'),
    ]).toEqual([200, 'image/webp', 'private, max-age=3600']);
    const { width, height } = await sharp(
      Buffer.from(await preview.arrayBuffer()),
    ).metadata();
    expect([width, height]).toEqual([256, 85]);
    const output = await adminFetch(
      `${stack!.baseUrl}/v1/jobs/${ids[0]}/result/default/preview`,
    );
    expect([output.status, output.headers.get('content-type')]).toEqual([
      200,
      'image/webp',
    ]);
  });

  it('browses jobs: lists, filters by status and id, opens a job with its timeline and previews', async () => {
    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on(
      'console',
      (message) => message.type() === 'error' && problems.push(message.text()),
    );
    const [job] = await finished([await submit('wide.jpg')]);
    await page.goto(`${stack!.baseUrl}/#/jobs`);
    await page.locator('#key-input').fill(TEST_ADMIN_KEY);
    await page.locator('#key-form button').click();
    await page
      .locator(`#job-list tr[data-job="${job.id}"]`)
      .waitFor({ timeout: 10_000 });
    expect(await page.locator('#overview').isHidden()).toBe(true);
    await decodedWidth(page, `#job-list tr[data-job="${job.id}"] img`);

    await page
      .locator('#job-filters select[name=status]')
      .selectOption('failed');
    await page.locator('#job-filters button[type=submit]').click();
    await waitFor(
      async () =>
        (await page
          .locator('#job-list tr[data-status="succeeded"]')
          .count()) === 0
          ? true
          : undefined,
      10_000,
      'the list to show failed jobs only',
    );
    expect(
      await page.locator('#job-list tr[data-status="failed"]').count(),
    ).toBeGreaterThan(0);
    expect(page.url()).toContain('#/jobs?status=failed');

    await page.locator('#job-filters select[name=status]').selectOption('');
    await page
      .locator('#job-filters input[name=idPrefix]')
      .fill(job.id.slice(0, 13));
    await page.locator('#job-filters button[type=submit]').click();
    await page
      .locator(`#job-list tr[data-job="${job.id}"]`)
      .waitFor({ timeout: 10_000 });
    await waitFor(
      async () =>
        (await page.locator('#job-list tr').count()) === 1 ? true : undefined,
      10_000,
      'the search to find the one job',
    );
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({
      path: join(ARTIFACTS, 'job-browser.png'),
      fullPage: true,
    });

    await page.locator(`#job-list tr[data-job="${job.id}"] a`).click();
    await shows(page, 'job-id', job.id);
    await page
      .locator('#job-timeline tr[data-event="succeeded"]')
      .waitFor({ timeout: 10_000 });
    expect(
      await page.locator('#job-timeline tr').first().getAttribute('data-event'),
    ).toBe('queued');
    expect(
      await page
        .locator('#job-facts tr[data-fact="status"] td')
        .nth(1)
        .textContent(),
    ).toBe('succeeded');
    expect(
      await decodedWidth(
        page,
        '#job-outputs figure[data-output="default"] img',
      ),
    ).toBe(40);
    expect(await decodedWidth(page, '#job-input img')).toBe(256);
    await page.screenshot({
      path: join(ARTIFACTS, 'job-page.png'),
      fullPage: true,
    });
    expect(await page.locator('#job-error').textContent()).toBe('');
    expect(problems).toEqual([]);
    await page.close();
  });
});
