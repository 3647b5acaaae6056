import { Topology } from '@pipeline/messaging';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { makeImage } from '../support/images';
import { createTestDatabase, deleteTopology, makeTempDir, uniqueName } from '../support/resources';
import { RunningStack, startStack } from '../support/stack';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');

/**
 * The dashboard in a real headless browser against the real processes: the counts move as
 * jobs are submitted, the workers show their heartbeats, and a failed job can be retried.
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
      50_000 + Math.floor(Math.random() * 10_000),
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });

  afterAll(async () => {
    await browser?.close();
    if (stack) await stack.stop();
    await deleteTopology(new Topology(prefix, 1));
    await database.drop();
    await folder.remove();
  });

  const submit = async (path: string) => {
    const response = await fetch(`${stack!.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: { path }, operations: [{ op: 'resize', width: 40 }] }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  it('shows the counts change as jobs finish, the workers, and retries a failed job', async () => {
    const page = await browser!.newPage();
    await page.goto(stack!.baseUrl);
    await expect(page.title()).resolves.toBe('Image pipeline');
    await page.waitForFunction(`document.getElementById('succeeded').textContent === '0'`);

    await writeFile(join(folder.path, 'images', 'ok.jpg'), await makeImage(120, 80));
    await writeFile(join(folder.path, 'images', 'broken.jpg'), Buffer.from('not an image at all'));
    for (let i = 0; i < 3; i++) await submit('ok.jpg');
    const failed = await submit('broken.jpg');

    await page.waitForFunction(`document.getElementById('succeeded').textContent === '3'`, undefined, { timeout: 20_000 });
    await page.waitForFunction(`document.getElementById('failed').textContent === '1'`, undefined, { timeout: 20_000 });
    await page.waitForFunction(`document.querySelectorAll('#workers tr').length === 2`, undefined, { timeout: 20_000 });
    expect(await page.locator('#workers tr td:first-child').allTextContents()).toEqual(expect.arrayContaining(['worker-1', 'worker-2']));
    const failure = page.locator(`#failures tr[data-job="${failed}"]`);
    await failure.waitFor({ timeout: 20_000 });
    expect(await failure.locator('td').nth(1).textContent()).toBe('UNSUPPORTED_FORMAT');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    await failure.getByRole('button', { name: 'Retry' }).click();
    await failure.getByRole('button', { name: 'Retried' }).waitFor({ timeout: 10_000 });
    const job = (await (await fetch(`${stack!.baseUrl}/v1/jobs/${failed}`)).json()) as { attempt: number };
    expect(job.attempt).toBe(2);
    expect(await page.locator('#error').textContent()).toBe('');
  });
});
