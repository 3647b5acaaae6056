import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModuleKind, transpileModule } from 'typescript';
import { FAILPOINT_NAMES, parseFailpoints } from './failpoints';

describe('parseFailpoints', () => {
  it('arms nothing when unset or empty', () => {
    expect(parseFailpoints(undefined).size).toBe(0);
    expect(parseFailpoints('').size).toBe(0);
  });

  it('reads exit and delay actions', () => {
    const armed = parseFailpoints(
      'producer.after-insert=exit, writer.after-commit=delay:250',
    );
    expect(Object.fromEntries(armed)).toEqual({
      'producer.after-insert': { kind: 'exit' },
      'writer.after-commit': { kind: 'delay', ms: 250 },
    });
  });

  it('names an unknown failpoint and a malformed action', () => {
    expect(() => parseFailpoints('producer.after-lunch=exit')).toThrow(
      /unknown failpoint "producer.after-lunch"/,
    );
    expect(() => parseFailpoints('producer.after-insert=explode')).toThrow(
      /"producer.after-insert=explode" must end in =exit or =delay:<ms>/,
    );
    expect(() => parseFailpoints('producer.after-insert')).toThrow(
      /must end in =exit/,
    );
  });

  it('knows each name once', () => {
    expect(new Set(FAILPOINT_NAMES).size).toBe(FAILPOINT_NAMES.length);
  });
});

describe('failpoint', () => {
  // In a process of its own, since an armed exit kills whoever passes the
  // point.
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'failpoints-'));
    const source = await readFile(join(__dirname, 'failpoints.ts'), 'utf8');
    await writeFile(
      join(dir, 'failpoints.js'),
      transpileModule(source, {
        compilerOptions: { module: ModuleKind.CommonJS },
      }).outputText,
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const passPoint = (failpoints: string | undefined) =>
    spawnSync(
      process.execPath,
      [
        '-e',
        `const { failpoint } = require('./failpoints.js'); const started = Date.now();
      Promise.resolve(failpoint('worker.after-output-stored')).then(() => console.log('passed after ' + (Date.now() - started) + ' ms'));`,
      ],
      {
        cwd: dir,
        env: { ...process.env, FAILPOINTS: failpoints ?? '' },
        encoding: 'utf8',
      },
    );

  it('lets a process pass a point that is not armed', () => {
    const result = passPoint('producer.after-insert=exit');
    expect({ status: result.status, signal: result.signal }).toEqual({
      status: 0,
      signal: null,
    });
    expect(result.stdout).toMatch(/^passed after/);
  });

  it('kills the process at an armed exit, saying which point', () => {
    const result = passPoint('worker.after-output-stored=exit');
    expect(result.signal).toBe('SIGKILL');
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr.trim())).toMatchObject({
      msg: 'failpoint reached',
      failpoint: 'worker.after-output-stored',
      action: 'exit',
    });
  });

  it('stalls the process at an armed delay, then goes on', () => {
    const result = passPoint('worker.after-output-stored=delay:300');
    expect(result.status).toBe(0);
    expect(
      Number(/passed after (\d+) ms/.exec(result.stdout)?.[1]),
    ).toBeGreaterThanOrEqual(290);
  });

  it('refuses to start with a misspelt failpoint', () => {
    const result = passPoint('worker.after-outptu-stored=exit');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      'unknown failpoint "worker.after-outptu-stored"',
    );
  });
});
