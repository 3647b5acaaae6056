import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The peer pipelines (what a user would build instead: BullMQ on Redis,
 * NestJS's own Transport.RMQ), run by `npm run bench -- --peers [DIR]` on the
 * same images right after this project's pipeline. Each peer measures sharp
 * alone itself and prints one JSON line of figures; ratios from one run
 * compare.
 */

export interface PeerConfig {
  name: string;
  script: string;
  workers: number;
  /** BullMQ's worker concurrency, or the Nest workers' prefetch. */
  perWorker: number;
}

export const PEER_CONFIGS: PeerConfig[] = [
  {
    name: 'BullMQ 1×4',
    script: 'bullmq-pipeline.js',
    workers: 1,
    perWorker: 4,
  },
  {
    name: 'BullMQ 2×2',
    script: 'bullmq-pipeline.js',
    workers: 2,
    perWorker: 2,
  },
  {
    name: 'Nest 2×4',
    script: 'nest-rmq-pipeline.js',
    workers: 2,
    perWorker: 4,
  },
];

/**
 * The peers always resize to 320 px wide, JPEG q80: only these workloads give
 * them the same images.
 */
export const PEER_WORKLOADS = ['thumb', 'tiny'];

export interface PeerFigures {
  name: string;
  workers: number;
  perWorker: number;
  imagesPerSecond: number;
  sharpAloneImagesPerSecond: number;
  ratio: number;
}
export type PeerResult = PeerFigures | { name: string; error: string };

export interface ProjectFigures {
  workload: string;
  jobs: number;
  workers: number;
  /**
   * Jobs per request: above one, they were submitted in batches (POST
   * /v1/jobs/batch).
   */
  jobsPerRequest: number;
  imagesPerSecond: number;
  sharpAloneImagesPerSecond: number;
  ratio: number;
}

/**
 * A bare `--peers` (last, or followed by another option) means the peers'
 * folder beside the project.
 */
export function withPeersDefault(argv: string[], defaultDir: string): string[] {
  return argv.map((arg, i) =>
    arg === '--peers' && (i === argv.length - 1 || argv[i + 1].startsWith('--'))
      ? `--peers=${defaultDir}`
      : arg,
  );
}

/**
 * The figures in a peer's output: its last line that is a JSON object with
 * imagesPerSec, sharpAlone and ratio.
 */
export function parsePeerOutput(
  config: PeerConfig,
  stdout: string,
): PeerFigures {
  const timedOut = /^timeout at (\d+)/m.exec(stdout);
  if (timedOut)
    throw new Error(
      `${config.name} gave up waiting with ${timedOut[1]} jobs done`,
    );
  for (const line of stdout.split('\n').reverse()) {
    if (!line.trim().startsWith('{')) continue;
    let printed: Record<string, unknown>;
    try {
      printed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const number = (field: string): number => {
      const value = printed[field];
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new Error(
          `${config.name} printed ${field} ${JSON.stringify(value)}, expected a positive number`,
        );
      }
      return value;
    };
    return {
      name: config.name,
      workers: config.workers,
      perWorker: config.perWorker,
      imagesPerSecond: number('imagesPerSec'),
      sharpAloneImagesPerSecond: number('sharpAlone'),
      ratio: number('ratio'),
    };
  }
  const tail = stdout.trim().split('\n').slice(-3).join(' | ') || '(nothing)';
  throw new Error(
    `${config.name} printed no figures (a JSON line with imagesPerSec, sharpAlone and ratio); its output ended with: ${tail}`,
  );
}

/**
 * One Markdown table: this project's figures, then each peer's, for the same
 * workload and jobs.
 */
export function comparisonTable(
  project: ProjectFigures,
  peers: PeerResult[],
): string {
  const workload = `${project.workload}, ${project.jobs} jobs`;
  const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const lines = [
    row(['workload', 'pipeline', 'jobs/s', 'sharp alone/s', 'ratio']),
    row(['---', '---', '---', '---', '---']),
    row([
      workload,
      `this project, ${project.workers} workers${project.jobsPerRequest > 1 ? `, batch of ${project.jobsPerRequest}` : ''}`,
      project.imagesPerSecond.toFixed(1),
      project.sharpAloneImagesPerSecond.toFixed(1),
      project.ratio.toFixed(2),
    ]),
    ...peers.map((peer) =>
      'error' in peer
        ? row([
            workload,
            peer.name,
            `failed: ${peer.error.replace(/\|/g, '/')}`,
            '',
            '',
          ])
        : row([
            workload,
            peer.name,
            peer.imagesPerSecond.toFixed(1),
            peer.sharpAloneImagesPerSecond.toFixed(1),
            peer.ratio.toFixed(2),
          ]),
    ),
  ];
  lines.push(
    '(each ratio is to sharp alone as measured by that pipeline in this run)',
  );
  return lines.join('\n');
}

/**
 * Copies the peers' folder to a cache keyed by its package.json (a fresh clone
 * has no ../shared) and installs their dependencies there once. Fails before
 * any measuring if the peers cannot run this workload.
 */
export async function preparePeers(
  source: string,
  workload: string,
  imageNames: string[],
): Promise<string> {
  if (!PEER_WORKLOADS.includes(workload))
    throw new Error(
      `--peers runs only with --workload ${PEER_WORKLOADS.join(' or ')} (the peers only resize to 320 px wide)`,
    );
  const notJpg = imageNames.filter((name) => !name.endsWith('.jpg'));
  if (notJpg.length > 0)
    throw new Error(
      `--peers needs .jpg images only (the peers skip other files), found ${notJpg.join(', ')}`,
    );
  for (const file of [
    'package.json',
    ...new Set(PEER_CONFIGS.map((config) => config.script)),
  ]) {
    if (!existsSync(join(source, file)))
      throw new Error(
        `--peers ${source} has no ${file}: expected the peers' folder`,
      );
  }
  const manifest = await readFile(join(source, 'package.json'));
  const hash = createHash('sha256').update(manifest).digest('hex').slice(0, 16);
  const cache = join(
    process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
    'image-pipeline-bench-peers',
    hash,
  );
  await mkdir(cache, { recursive: true });
  // Copied afresh each run, so edited scripts count; removed first because the
  // source may be read-only.
  for (const name of await readdir(source)) {
    if (!(await stat(join(source, name))).isFile()) continue;
    await rm(join(cache, name), { force: true });
    await writeFile(join(cache, name), await readFile(join(source, name)));
  }
  const installed = join(cache, '.installed');
  if (!existsSync(installed)) {
    console.log(`installing the peers' dependencies in ${cache}`);
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund'],
      cache,
      15 * 60_000,
    );
    await writeFile(installed, new Date().toISOString() + '\n');
  }
  return cache;
}

/**
 * Runs each peer configuration in turn on `imagesDir`; a peer that fails is
 * reported, not fatal.
 */
export async function runPeers(
  cache: string,
  imagesDir: string,
  project: ProjectFigures,
): Promise<PeerResult[]> {
  const results: PeerResult[] = [];
  for (const config of PEER_CONFIGS) {
    const args = [
      join(cache, config.script),
      'run',
      imagesDir,
      String(project.jobs),
      String(config.workers),
      String(config.perWorker),
    ];
    try {
      const stdout = await run(
        process.execPath,
        args,
        cache,
        Math.max(5 * 60_000, project.jobs * 500),
      );
      const figures = parsePeerOutput(config, stdout);
      console.log(
        `${config.name}: ${figures.imagesPerSecond} images/s (sharp alone ${figures.sharpAloneImagesPerSecond}, ratio ${figures.ratio})`,
      );
      results.push(figures);
    } catch (error) {
      console.error(`${config.name} failed: ${(error as Error).message}`);
      results.push({ name: config.name, error: (error as Error).message });
    }
  }
  console.log(comparisonTable(project, results));
  return results;
}

/**
 * Runs a command in its own process group, so the worker processes a peer forks
 * go with it.
 */
function run(
  command: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // npm from the same Node installation as the benchmark.
      env: {
        ...process.env,
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout
      .setEncoding('utf8')
      .on('data', (chunk: string) => (stdout += chunk));
    child.stderr
      .setEncoding('utf8')
      .on('data', (chunk: string) => (stderr += chunk));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(killGroup, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not start: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      killGroup();
      if (code === 0) return resolveRun(stdout);
      const why = signal
        ? `was killed (${signal}${signal === 'SIGKILL' ? `, over ${timeoutMs / 1000} s?` : ''})`
        : `exited with code ${code}`;
      const tail = (stderr || stdout).trim().split('\n').slice(-5).join(' | ');
      reject(
        new Error(`${command} ${args.slice(0, 2).join(' ')} ${why}: ${tail}`),
      );
    });
  });
}
