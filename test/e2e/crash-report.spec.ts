import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { outDirOf } from '../../scripts/dist-layout';

const ROOT = join(__dirname, '..', '..');
/** The platform library as the built apps run it (`npm run build`). */
const PLATFORM = join(outDirOf('producer'), 'libs/platform');
const EXIT_TIMEOUT_MS = 30_000;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs `script` (CommonJS, from the repository's root) in a node process of its
 * own until it exits.
 */
function runScript(
  script: string,
  onStdoutLine?: (line: string) => void,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk: Buffer) =>
      chunk
        .toString()
        .split('\n')
        .filter(Boolean)
        .forEach((line) => onStdoutLine?.(line)),
    );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `the script did not exit within ${EXIT_TIMEOUT_MS} ms; stderr:\n${stderr}`,
        ),
      );
    }, EXIT_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

/** The lines of stderr that are crash reports. */
function crashReports(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.level === 'fatal');
}

const prelude = `
  const { run } = require(${JSON.stringify(join(PLATFORM, 'bootstrap.js'))});
  const { requestContext, enterRequestContext } = require(${JSON.stringify(join(PLATFORM, 'crash-report.js'))});
`;

describe('an app that meets an uncaught error (run() of libs/platform, as every app starts)', () => {
  it('reports an uncaught exception in one JSON line naming the request, with the stack, secrets redacted, and exits 1', async () => {
    const { code, stderr } = await runScript(`${prelude}
      run(async () => {
        requestContext.run({ requestId: 'req-crash-1' }, () => {
          setTimeout(function failInTimer() { throw new Error('boom while holding Bearer abc.def-secret'); }, 10);
        });
        setInterval(() => undefined, 1000); // an app keeps running
      });
    `);
    expect(code).toBe(1);
    const reports = crashReports(stderr);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({
      level: 'fatal',
      origin: 'uncaughtException',
      requestId: 'req-crash-1',
      message:
        'Uncaught exception, exiting: Error: boom while holding Bearer [redacted]',
    });
    expect(reports[0].stack).toContain('failInTimer');
    expect(stderr).not.toContain('abc.def-secret');
  });

  it('reports an unhandled rejection the same way, and exits 1', async () => {
    const { code, stderr } = await runScript(`${prelude}
      run(async () => {
        requestContext.run({ requestId: 'req-crash-2' }, () => {
          setTimeout(() => Promise.reject(new Error('nobody waited for this')), 10);
        });
        setInterval(() => undefined, 1000);
      });
    `);
    expect(code).toBe(1);
    const reports = crashReports(stderr);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({
      origin: 'unhandledRejection',
      requestId: 'req-crash-2',
      message:
        'Unhandled promise rejection, exiting: Error: nobody waited for this',
    });
    expect(reports[0].stack).toContain('nobody waited for this');
  });

  it('says requestId null for a crash outside any request', async () => {
    const { code, stderr } = await runScript(`${prelude}
      run(async () => { setTimeout(() => { throw new TypeError('not during a request'); }, 10); setInterval(() => undefined, 1000); });
    `);
    expect(code).toBe(1);
    expect(crashReports(stderr)).toEqual([
      expect.objectContaining({
        origin: 'uncaughtException',
        requestId: null,
        message: 'Uncaught exception, exiting: TypeError: not during a request',
      }),
    ]);
  });

  it('names the X-Request-Id of the HTTP request whose handler crashed, also after its JSON body was read', async () => {
    const script = `${prelude}
      const fastify = require('fastify')({ requestIdHeader: 'x-request-id' });
      fastify.addHook('preHandler', enterRequestContext((request) => request.id));
      fastify.post('/crash', async (request) => {
        setTimeout(() => { throw new Error('handler failed for ' + request.body.name); }, 10);
        return { ok: true };
      });
      run(async () => {
        await fastify.listen({ port: 0, host: '127.0.0.1' });
        console.log('port=' + fastify.server.address().port);
      });
    `;
    let sent: Promise<unknown> | undefined;
    const outcome = await runScript(script, (line) => {
      const port = /^port=(\d+)$/.exec(line)?.[1];
      if (port) {
        sent = fetch(`http://127.0.0.1:${port}/crash`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-request-id': 'req-from-the-client',
          },
          body: JSON.stringify({ name: 'a JSON body' }),
        }).catch(() => undefined);
      }
    });
    await sent;
    expect(sent).toBeDefined();
    expect(outcome.code).toBe(1);
    expect(crashReports(outcome.stderr)).toEqual([
      expect.objectContaining({
        origin: 'uncaughtException',
        requestId: 'req-from-the-client',
        message:
          'Uncaught exception, exiting: Error: handler failed for a JSON body',
      }),
    ]);
  });
});
