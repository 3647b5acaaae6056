// deploy/Dockerfile and .dockerignore, read as the builder reads them (no
// container engine here): stages, base, user, entrypoint, health check; and the
// helpers the image carries, run.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BuiltApp, entryOf, outDirOf } from '../../scripts/dist-layout';
import { parseYaml, readRepoFile, root } from './tools';

jest.setTimeout(30_000);

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/**
 * The Dockerfile as instructions (continuations joined, comments dropped),
 * split in stages.
 */
function parseDockerfile(text: string): {
  globalArgs: Instruction[];
  stages: Stage[];
} {
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
  const instructions: Instruction[] = [];
  let current = '';
  for (const line of lines) {
    current += line.replace(/\\\s*$/, ' ');
    if (/\\\s*$/.test(line)) continue;
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(current.trim());
    if (match)
      instructions.push({
        keyword: match[1].toUpperCase(),
        args: match[2].trim(),
      });
    current = '';
  }
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [from, , name] = instruction.args.split(/\s+/);
      stages.push({ from, name, instructions: [] });
    } else if (stages.length === 0) {
      globalArgs.push(instruction);
    } else {
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

const dockerfile = parseDockerfile(readRepoFile('deploy/Dockerfile'));
const runtime = dockerfile.stages[dockerfile.stages.length - 1];
const all = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword);
const one = (stage: Stage, keyword: string) => {
  const found = all(stage, keyword);
  expect(found).toHaveLength(1);
  return found[0].args;
};
const stage = (name: string) => dockerfile.stages.find((s) => s.name === name)!;
const apps = ['producer', 'image-worker', 'results-writer', 'migrator', 'cli'];

/**
 * .dockerignore's patterns (the subset of Go's filepath.Match syntax it uses)
 * applied to a path.
 */
function ignored(path: string): boolean {
  const patterns = readRepoFile('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  let excluded = false;
  for (const pattern of patterns) {
    const negate = pattern.startsWith('!');
    const body = (negate ? pattern.slice(1) : pattern).replace(/^\/+/, '');
    const regex = new RegExp(
      '^' +
        body
          .split('**/')
          .map((part) =>
            part
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '[^/]*')
              .replace(/\?/g, '[^/]'),
          )
          .join('(?:.*/)?') +
        '(?:/.*)?$',
    );
    if (regex.test(path)) excluded = !negate;
  }
  return excluded;
}

describe('container image (deploy/Dockerfile)', () => {
  test('the base is a build argument, a pinned Node.js 24 slim image, used by every stage', () => {
    const arg = dockerfile.globalArgs.find(
      (i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='),
    );
    expect(arg?.args).toMatch(
      /^NODE_IMAGE=node:24\.\d+\.\d+-(bookworm|trixie)-slim$/,
    );
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const s of dockerfile.stages) expect(s.from).toBe('${NODE_IMAGE}');
  });

  test('multi-stage: compiled with the dev dependencies, run with the production ones only', () => {
    const build = stage('build');
    expect(all(build, 'RUN').map((i) => i.args)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^npm ci\b/),
        'npm run build',
      ]),
    );
    const deps = stage('deps');
    expect(
      all(deps, 'RUN').some((i) => /npm ci\b.*--omit=dev/.test(i.args)),
    ).toBe(true);
    const copies = all(runtime, 'COPY').map((i) => i.args);
    expect(copies).toContain('--from=deps /src/node_modules ./node_modules');
    expect(copies).toContain('--from=build /src/dist ./dist');
    expect(
      all(runtime, 'RUN').some((i) => /npm (ci|install)/.test(i.args)),
    ).toBe(false);
  });

  test('the runtime has the fonts the watermark text needs, and no secret', () => {
    const run = all(runtime, 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(run).toContain('fonts-dejavu-core');
    expect(run).toContain('fontconfig');
    expect(run).toContain('rm -rf /var/lib/apt/lists/*');
    for (const s of dockerfile.stages) {
      for (const i of [...s.instructions, ...dockerfile.globalArgs]) {
        if (i.keyword === 'ENV' || i.keyword === 'ARG')
          expect(i.args).not.toMatch(
            /PASSWORD|SECRET|TOKEN|AMQP_URL|DATABASE_URL/,
          );
      }
    }
  });

  test('a non-root user, the same the chart runs as', () => {
    const user = one(runtime, 'USER');
    // numeric, so runAsNonRoot can check it
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const values = parseYaml(
      readRepoFile('helm/image-pipeline/values.yaml'),
    ) as { podSecurityContext: { runAsUser: number; runAsGroup: number } };
    expect(
      `${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`,
    ).toBe(user);
    expect(
      all(runtime, 'RUN')
        .map((i) => i.args)
        .join('\n'),
    ).toContain(`chown ${user} /data/storage`);
  });

  test('node is PID 1 (exec form), the app chosen by the command, the producer by default', () => {
    expect(JSON.parse(one(runtime, 'ENTRYPOINT'))).toEqual(['node']);
    expect(JSON.parse(one(runtime, 'CMD'))).toEqual(['dist/producer/main.js']);
    const text = readRepoFile('deploy/Dockerfile');
    expect(text).not.toMatch(/npm (run )?start/);
    expect(one(runtime, 'EXPOSE').split(/\s+/)).toEqual([
      '3000',
      '3001',
      '3002',
    ]);
    const env = one(runtime, 'ENV');
    expect(env).toContain('STORAGE_DIR=/data/storage');
    expect(env).toContain('IMAGES_DIR=/images');
  });

  test('every app the build makes is where the commands of the image, compose and the chart say', () => {
    const nest = JSON.parse(readRepoFile('nest-cli.json')) as {
      projects: Record<string, { type: string }>;
    };
    for (const app of apps) expect(nest.projects[app].type).toBe('application');
    const commands = [
      ...readRepoFile('docker-compose.yml').matchAll(
        /dist\/([a-z-]+)\/main\.js/g,
      ),
      ...readRepoFile('deploy/Dockerfile').matchAll(
        /dist\/([a-z-]+)\/main\.js/g,
      ),
    ];
    for (const file of [
      'producer-deployment',
      'image-worker-deployment',
      'results-writer-deployment',
      'migrate-job',
    ]) {
      commands.push(
        ...readRepoFile(`helm/image-pipeline/templates/${file}.yaml`).matchAll(
          /dist\/([a-z-]+)\/main\.js/g,
        ),
      );
    }
    expect(commands.length).toBeGreaterThanOrEqual(9);
    for (const [path, app] of commands) {
      expect(apps).toContain(app);
      expect(join(root, path)).toBe(entryOf(app as BuiltApp));
      // `npm test` builds before it runs the suites; alone, this check needs a
      // build.
      if (existsSync(outDirOf(app as BuiltApp)))
        expect(existsSync(join(root, path))).toBe(true);
    }
  });

  test('.dockerignore keeps the context small and keeps what the build copies', () => {
    for (const path of [
      'node_modules',
      'dist',
      '.tools/node/bin/node',
      '.git',
      'data/images/a.jpg',
      'test-artifacts',
      'bench-results',
      'coverage',
      '.env',
      'test/e2e/x.spec.ts',
      'libs/imaging/src/plan.spec.ts',
      'helm/image-pipeline/values.yaml',
    ]) {
      expect({ path, ignored: ignored(path) }).toEqual({ path, ignored: true });
    }
    const sources = dockerfile.stages
      .flatMap((s) => all(s, 'COPY'))
      .filter((i) => !i.args.startsWith('--from'))
      .flatMap((i) =>
        i.args
          .replace(/--\S+\s+/g, '')
          .split(/\s+/)
          .slice(0, -1),
      );
    expect(sources).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'apps',
        'libs',
        'bin',
        'deploy/wait-for.js',
      ]),
    );
    for (const source of sources) {
      expect(existsSync(join(root, source))).toBe(true);
      expect({ source, ignored: ignored(source) }).toEqual({
        source,
        ignored: false,
      });
    }
    expect(ignored('libs/imaging/src/plan.ts')).toBe(false);
    expect(ignored('apps/producer/tsconfig.app.json')).toBe(false);
  });

  describe('HEALTHCHECK', () => {
    const healthcheck = one(runtime, 'HEALTHCHECK');
    const command = JSON.parse(
      healthcheck.replace(/^.*?CMD\s+/, ''),
    ) as string[];
    let server: Server;
    let status = 200;
    let port = 0;
    beforeAll(async () => {
      server = createServer((request, response) => {
        response.statusCode = request.url === '/health/live' ? status : 404;
        response.end();
      });
      await new Promise<void>((resolve) =>
        server.listen(0, '127.0.0.1', resolve),
      );
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    const probe = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, command.slice(1), {
          env: { ...env, PATH: process.env.PATH ?? '' },
          stdio: 'ignore',
        });
        child.on('exit', (code) => resolve(code));
      });

    test('runs node against /health/live on PORT, in exec form, with a start period', async () => {
      expect(healthcheck).toMatch(/--start-period=\d+s/);
      expect(command[0]).toBe('node');
      expect(await probe({ PORT: String(port) })).toBe(0);
      status = 503;
      expect(await probe({ PORT: String(port) })).toBe(1);
      status = 200;
      server.close();
      expect(await probe({ PORT: String(port) })).toBe(1);
    });
  });

  test('deploy/wait-for.js waits for TCP services named by URL variables, never printing a URL', async () => {
    const server = createServer();
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    const { port } = server.address() as AddressInfo;
    try {
      const script = join(root, 'deploy', 'wait-for.js');
      const up = spawnSync(process.execPath, [script, 'AMQP_URL'], {
        env: { AMQP_URL: `amqp://u:secret@127.0.0.1:${port}` },
        encoding: 'utf8',
      });
      expect(up.status).toBe(0);
      expect(up.stdout).toContain(
        `AMQP_URL (127.0.0.1:${port}) accepts connections`,
      );
      const down = spawnSync(
        process.execPath,
        [script, 'AMQP_URL', 'DATABASE_URL'],
        {
          env: {
            AMQP_URL: `amqp://u:secret@127.0.0.1:${port}`,
            DATABASE_URL: 'postgres://u:secret@127.0.0.1:1/db',
            WAIT_TIMEOUT_S: '1',
          },
          encoding: 'utf8',
        },
      );
      expect(down.status).toBe(1);
      expect(down.stderr).toContain(
        'DATABASE_URL: 127.0.0.1:1 did not answer within 1 s',
      );
      expect(down.stdout + down.stderr).not.toContain('secret');
      const unset = spawnSync(process.execPath, [script, 'DATABASE_URL'], {
        env: {},
        encoding: 'utf8',
      });
      expect(unset.status).toBe(1);
      expect(unset.stderr).toContain('DATABASE_URL is not set');
    } finally {
      server.close();
    }
  });
});
