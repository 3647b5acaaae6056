import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  comparisonTable,
  parsePeerOutput,
  PEER_CONFIGS,
  preparePeers,
  withPeersDefault,
} from './peers';

const [bullmq, , nest] = PEER_CONFIGS;

describe('withPeersDefault', () => {
  it('gives a bare --peers the default folder, last or before another option', () => {
    expect(withPeersDefault(['--jobs', '10', '--peers'], '/d')).toEqual([
      '--jobs',
      '10',
      '--peers=/d',
    ]);
    expect(withPeersDefault(['--peers', '--jobs', '10'], '/d')).toEqual([
      '--peers=/d',
      '--jobs',
      '10',
    ]);
  });

  it('keeps a folder given after --peers', () => {
    expect(
      withPeersDefault(['--peers', '/mine', '--jobs', '10'], '/d'),
    ).toEqual(['--peers', '/mine', '--jobs', '10']);
    expect(withPeersDefault(['--jobs', '10'], '/d')).toEqual(['--jobs', '10']);
  });
});

describe('parsePeerOutput', () => {
  it('reads the figures from the JSON line a peer prints last', () => {
    const stdout =
      'some warning\n' +
      '{"peer":"bullmq+redis","n":1000,"workers":1,"concurrency":4,"imagesPerSec":188.4,"sharpAlone":277.1,"ratio":0.68,"perWorker":"1000"}\n';
    expect(parsePeerOutput(bullmq, stdout)).toEqual({
      name: 'BullMQ 1×4',
      workers: 1,
      perWorker: 4,
      imagesPerSecond: 188.4,
      sharpAloneImagesPerSecond: 277.1,
      ratio: 0.68,
    });
  });

  it('refuses a run that gave up waiting, naming how far it got', () => {
    const stdout =
      'timeout at 812\n{"peer":"nestjs","n":1000,"imagesPerSec":6.7,"sharpAlone":277.1,"ratio":0.02}\n';
    expect(() => parsePeerOutput(nest, stdout)).toThrow(
      'Nest 2×4 gave up waiting with 812 jobs done',
    );
  });

  it('names a figure that is missing or not a positive number', () => {
    expect(() =>
      parsePeerOutput(
        bullmq,
        '{"imagesPerSec":0,"sharpAlone":277.1,"ratio":0}\n',
      ),
    ).toThrow('BullMQ 1×4 printed imagesPerSec 0, expected a positive number');
    expect(() =>
      parsePeerOutput(bullmq, '{"imagesPerSec":10,"ratio":0.1}\n'),
    ).toThrow('printed sharpAlone undefined');
  });

  it('says what the output ended with when there are no figures', () => {
    expect(() =>
      parsePeerOutput(
        bullmq,
        'Error: connect ECONNREFUSED 127.0.0.1:6379\n{ not json\n',
      ),
    ).toThrow(
      'BullMQ 1×4 printed no figures (a JSON line with imagesPerSec, sharpAlone and ratio); its output ended with: Error: connect ECONNREFUSED 127.0.0.1:6379 | { not json',
    );
  });
});

describe('comparisonTable', () => {
  const project = {
    workload: 'thumb',
    jobs: 240,
    workers: 2,
    jobsPerRequest: 1,
    imagesPerSecond: 50.31,
    sharpAloneImagesPerSecond: 67.6,
    ratio: 0.743,
  };

  it('puts this project and every peer in one table, a failed peer with its reason', () => {
    const table = comparisonTable(project, [
      {
        name: 'BullMQ 1×4',
        workers: 1,
        perWorker: 4,
        imagesPerSecond: 59.5,
        sharpAloneImagesPerSecond: 67.6,
        ratio: 0.88,
      },
      { name: 'Nest 2×4', error: 'node x exited with code 1: a | b' },
    ]);
    expect(table.split('\n')).toEqual([
      '| workload | pipeline | jobs/s | sharp alone/s | ratio |',
      '| --- | --- | --- | --- | --- |',
      '| thumb, 240 jobs | this project, 2 workers | 50.3 | 67.6 | 0.74 |',
      '| thumb, 240 jobs | BullMQ 1×4 | 59.5 | 67.6 | 0.88 |',
      '| thumb, 240 jobs | Nest 2×4 | failed: node x exited with code 1: a / b |  |  |',
      '(each ratio is to sharp alone as measured by that pipeline in this run)',
    ]);
  });

  it('says so on the project row when the jobs were submitted in batches', () => {
    const table = comparisonTable(
      {
        ...project,
        workload: 'tiny',
        jobs: 1000,
        jobsPerRequest: 100,
        imagesPerSecond: 251.04,
        ratio: 0.6,
      },
      [],
    );
    expect(table.split('\n')[2]).toBe(
      '| tiny, 1000 jobs | this project, 2 workers, batch of 100 | 251.0 | 67.6 | 0.60 |',
    );
  });

  it("says each ratio is to that pipeline's own sharp alone", () => {
    expect(comparisonTable({ ...project, workload: 'tiny' }, [])).toContain(
      'each ratio is to sharp alone as measured by that pipeline in this run',
    );
  });
});

describe('preparePeers', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'peers-spec-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('refuses a workload whose operation the peers do not run', async () => {
    await expect(preparePeers(dir, 'filters', ['a.jpg'])).rejects.toThrow(
      '--peers runs only with --workload thumb or tiny',
    );
  });

  it('refuses images the peers would skip', async () => {
    await expect(
      preparePeers(dir, 'thumb', ['a.jpg', 'b.png']),
    ).rejects.toThrow(
      '--peers needs .jpg images only (the peers skip other files), found b.png',
    );
  });

  it("names the file missing from a folder that is not the peers'", async () => {
    await writeFile(join(dir, 'package.json'), '{}');
    await writeFile(join(dir, 'bullmq-pipeline.js'), '');
    await expect(preparePeers(dir, 'thumb', ['a.jpg'])).rejects.toThrow(
      `--peers ${dir} has no nest-rmq-pipeline.js: expected the peers' folder`,
    );
  });
});
