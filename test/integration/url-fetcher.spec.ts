import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import {
  createServer,
  IncomingMessage,
  Server,
  ServerResponse,
} from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseAddressAllowlist,
  parseSourcePorts,
  SourceFetchError,
  UrlFetcher,
  UrlFetcherOptions,
} from '@pipeline/fetching';

// Real HTTP servers on loopback; the fetcher must refuse them unless the
// allowlist names them. They listen on ports the system picks, so the fetchers
// allow the unprivileged ports explicitly.
const TEST_PORTS = '80,443,1024-65535';

interface TestServer {
  port: number;
  url: string;
  /** Requests the server has received, as `METHOD path`. */
  hits: string[];
  /** Headers of the last request. */
  lastHeaders: IncomingMessage['headers'];
  close(): Promise<void>;
}

const servers: TestServer[] = [];

async function startServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  host = '127.0.0.1',
): Promise<TestServer> {
  const hits: string[] = [];
  const state: TestServer = {
    port: 0,
    url: '',
    hits,
    lastHeaders: {},
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((request, response) => {
    hits.push(`${request.method} ${request.url}`);
    state.lastHeaders = request.headers;
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://${host}:${state.port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  servers.push(state);
  return state;
}

/** A port nothing listens on: taken from a server that is closed at once. */
async function closedPort(): Promise<number> {
  const server = await startServer(() => undefined);
  await server.close();
  return server.port;
}

const image = Buffer.from(
  Array.from({ length: 5000 }, (_, index) => index % 251),
);

function serveImage(response: ServerResponse): void {
  response.writeHead(200, {
    'content-type': 'image/png',
    'content-length': image.length,
  });
  response.end(image);
}

function redirect(
  response: ServerResponse,
  location: string,
  status = 302,
): void {
  response.writeHead(status, { location });
  response.end();
}

describe('UrlFetcher (real HTTP servers)', () => {
  let dir: string;
  let destination: string;
  const fetchers: UrlFetcher[] = [];

  function fetcher(
    overrides: Partial<UrlFetcherOptions> & { allow?: string } = {},
  ): UrlFetcher {
    const { allow = '127.0.0.1/32', ...options } = overrides;
    const created = new UrlFetcher({
      allowlist: parseAddressAllowlist(allow),
      ports: parseSourcePorts(TEST_PORTS),
      maxBytes: 1_000_000,
      timeoutMs: 5_000,
      maxRedirects: 3,
      ...options,
    });
    fetchers.push(created);
    return created;
  }

  /**
   * The error `download` failed with; fails the test when it succeeded or threw
   * something else.
   */
  async function failure(
    download: Promise<unknown>,
  ): Promise<SourceFetchError> {
    const error = await download.then(
      () => {
        throw new Error('expected the download to fail');
      },
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SourceFetchError);
    return error as SourceFetchError;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'url-fetcher-'));
    destination = join(dir, 'input');
  });

  afterEach(async () => {
    await Promise.all(fetchers.splice(0).map((created) => created.close()));
    await Promise.all(servers.splice(0).map((server) => server.close()));
    await rm(dir, { recursive: true, force: true });
  });

  describe('allowed sources', () => {
    it('downloads to the destination when the allowlist names 127.0.0.1/32', async () => {
      const server = await startServer((_request, response) =>
        serveImage(response),
      );
      const result = await fetcher().download(
        `${server.url}/photo.png?size=large`,
        destination,
      );
      expect(result).toEqual({
        bytes: image.length,
        contentType: 'image/png',
        finalUrl: `${server.url}/photo.png?size=large`,
      });
      expect(await readFile(destination)).toEqual(image);
      expect(server.hits).toEqual(['GET /photo.png?size=large']);
      expect(server.lastHeaders['accept-encoding']).toBe('identity');
    });

    it('downloads a chunked body of exactly maxBytes', async () => {
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'image/jpeg' });
        response.write(image.subarray(0, 2000));
        response.end(image.subarray(2000));
      });
      const result = await fetcher({ maxBytes: image.length }).download(
        server.url,
        destination,
      );
      expect(result.bytes).toBe(image.length);
      expect(await readFile(destination)).toEqual(image);
    });

    it('resolves a host name and connects when its addresses are allowlisted', async () => {
      const server = await startServer((_request, response) =>
        serveImage(response),
      );
      const result = await fetcher({ allow: '127.0.0.1/32, ::1/128' }).download(
        `http://localhost:${server.port}/a.png`,
        destination,
      );
      expect(result.bytes).toBe(image.length);
      expect(await readFile(destination)).toEqual(image);
    });
  });

  describe('forbidden addresses', () => {
    it('refuses 127.0.0.1 without an allowlist, before any request, writing nothing', async () => {
      const server = await startServer((_request, response) =>
        serveImage(response),
      );
      const error = await failure(
        fetcher({ allow: '' }).download(
          `${server.url}/photo.png?token=secret`,
          destination,
        ),
      );
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toBe(
        `refused ${server.url}: 127.0.0.1 is a loopback address (add it to SOURCE_URL_ALLOWLIST to allow it)`,
      );
      expect(server.hits).toEqual([]);
      expect(await readdir(dir)).toEqual([]);
    });

    it('refuses the host name localhost by the address it resolves to', async () => {
      const server = await startServer((_request, response) =>
        serveImage(response),
      );
      const error = await failure(
        fetcher({ allow: '' }).download(
          `http://localhost:${server.port}/`,
          destination,
        ),
      );
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toMatch(
        new RegExp(
          `^refused http://localhost:${server.port}: (127\\.0\\.0\\.1|::1) is a loopback address`,
        ),
      );
      expect(server.hits).toEqual([]);
      expect(existsSync(destination)).toBe(false);
    });

    it.each([
      [
        'decimal',
        (port: number) => `http://2130706433:${port}/`,
        '127.0.0.1 is a loopback address',
      ],
      [
        'octal',
        (port: number) => `http://0177.0.0.1:${port}/`,
        '127.0.0.1 is a loopback address',
      ],
      [
        'hexadecimal',
        (port: number) => `http://0x7f000001:${port}/`,
        '127.0.0.1 is a loopback address',
      ],
      [
        'short',
        (port: number) => `http://127.1:${port}/`,
        '127.0.0.1 is a loopback address',
      ],
      [
        'IPv6 loopback',
        (port: number) => `http://[::1]:${port}/`,
        '::1 is a loopback address',
      ],
      [
        'IPv4-mapped IPv6',
        (port: number) => `http://[::ffff:127.0.0.1]:${port}/`,
        '::ffff:7f00:1 maps to 127.0.0.1, which is a loopback address',
      ],
      [
        'unspecified',
        (port: number) => `http://0.0.0.0:${port}/`,
        '0.0.0.0 is an unspecified address',
      ],
      [
        'IPv4-compatible IPv6',
        (port: number) => `http://[::127.0.0.1]:${port}/`,
        '::7f00:1 is an IPv4-compatible address (deprecated; it embeds 127.0.0.1)',
      ],
    ])(
      'refuses the %s form of a loopback address',
      async (_form, urlFor, reason) => {
        const server = await startServer((_request, response) =>
          serveImage(response),
        );
        const error = await failure(
          fetcher({ allow: '' }).download(urlFor(server.port), destination),
        );
        expect(error).toMatchObject({
          code: 'SOURCE_REFUSED',
          permanent: true,
        });
        expect(error.message).toContain(
          `: ${reason} (add it to SOURCE_URL_ALLOWLIST`,
        );
        expect(server.hits).toEqual([]);
        expect(existsSync(destination)).toBe(false);
      },
    );

    it('refuses the IPv4-mapped form even when the allowlist names only other addresses', async () => {
      const error = await failure(
        fetcher({ allow: '10.0.0.0/8' }).download(
          'http://[::ffff:7f00:1]/',
          destination,
        ),
      );
      expect(error.code).toBe('SOURCE_REFUSED');
    });

    it('refuses the cloud metadata address before trying to connect', async () => {
      const started = Date.now();
      const error = await failure(
        fetcher({ allow: '', timeoutMs: 30_000 }).download(
          'http://169.254.169.254/latest/meta-data/iam',
          destination,
        ),
      );
      expect(Date.now() - started).toBeLessThan(500);
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toBe(
        'refused http://169.254.169.254: 169.254.169.254 is a link-local address (add it to SOURCE_URL_ALLOWLIST to allow it)',
      );
    }, 2_000);

    it.each([
      [
        'ftp://127.0.0.1/a.png',
        'refused ftp://127.0.0.1: only http and https URLs are allowed, not ftp',
      ],
      [
        'http://user:hunter2@127.0.0.1/a.png',
        'refused http://127.0.0.1: the URL must not contain a user name or password',
      ],
      ['not a url', 'refused the source URL: it is not a valid absolute URL'],
    ])(
      'refuses the unusable URL %s without naming secrets',
      async (url, message) => {
        const error = await failure(fetcher().download(url, destination));
        expect(error).toMatchObject({
          code: 'SOURCE_REFUSED',
          permanent: true,
          message,
        });
      },
    );
  });

  describe('ports', () => {
    it('refuses a port SOURCE_URL_PORTS does not list, before any request, naming the port and the setting', async () => {
      const server = await startServer((_request, response) =>
        serveImage(response),
      );
      const error = await failure(
        fetcher({ ports: parseSourcePorts('80,443') }).download(
          `${server.url}/photo.png?token=secret`,
          destination,
        ),
      );
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toBe(
        `refused ${server.url}: port ${server.port} is not one of SOURCE_URL_PORTS (80,443)`,
      );
      expect(server.hits).toEqual([]);
      expect(await readdir(dir)).toEqual([]);
    });

    it('refuses a port nothing listens on just the same: no answer tells which ports are open', async () => {
      const port = await closedPort();
      const error = await failure(
        fetcher({ ports: parseSourcePorts('80,443') }).download(
          `http://127.0.0.1:${port}/`,
          destination,
        ),
      );
      expect(error).toMatchObject({
        code: 'SOURCE_REFUSED',
        permanent: true,
        message: `refused http://127.0.0.1:${port}: port ${port} is not one of SOURCE_URL_PORTS (80,443)`,
      });
    });

    it('downloads from a port the list names', async () => {
      const server = await startServer((_request, response) =>
        serveImage(response),
      );
      const result = await fetcher({
        ports: parseSourcePorts(`443,${server.port}`),
      }).download(`${server.url}/photo.png`, destination);
      expect(result.bytes).toBe(image.length);
    });

    it('refuses a redirect to a port the list does not name', async () => {
      const target = await startServer((_request, response) =>
        serveImage(response),
      );
      const server = await startServer((_request, response) =>
        redirect(response, `${target.url}/internal`),
      );
      const error = await failure(
        fetcher({ ports: parseSourcePorts(`80,443,${server.port}`) }).download(
          `${server.url}/start`,
          destination,
        ),
      );
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toBe(
        `refused ${target.url} (redirected from ${server.url}): port ${target.port} is not one of SOURCE_URL_PORTS (80,443,${server.port})`,
      );
      expect(server.hits).toEqual(['GET /start']);
      expect(target.hits).toEqual([]);
    });
  });

  describe('redirects', () => {
    function chain(
      hops: number,
    ): (request: IncomingMessage, response: ServerResponse) => void {
      return (request, response) => {
        const step = Number(
          /^\/hop\/(\d+)/.exec(request.url ?? '')?.[1] ?? NaN,
        );
        if (step < hops)
          redirect(response, `/hop/${step + 1}`, step % 2 === 0 ? 302 : 307);
        else serveImage(response);
      };
    }

    it('follows a chain of relative redirects within the limit', async () => {
      const server = await startServer(chain(3));
      const result = await fetcher({ maxRedirects: 3 }).download(
        `${server.url}/hop/0`,
        destination,
      );
      expect(result.finalUrl).toBe(`${server.url}/hop/3`);
      expect(await readFile(destination)).toEqual(image);
      expect(server.hits).toEqual([
        'GET /hop/0',
        'GET /hop/1',
        'GET /hop/2',
        'GET /hop/3',
      ]);
    });

    it('refuses one redirect more than the limit', async () => {
      const server = await startServer(chain(3));
      const error = await failure(
        fetcher({ maxRedirects: 2 }).download(
          `${server.url}/hop/0`,
          destination,
        ),
      );
      expect(error).toMatchObject({
        code: 'SOURCE_UNAVAILABLE',
        permanent: true,
      });
      expect(error.message).toContain('too many redirects (more than 2)');
      expect(server.hits).toEqual(['GET /hop/0', 'GET /hop/1', 'GET /hop/2']);
      expect(existsSync(destination)).toBe(false);
    });

    it('refuses a redirect to a loopback address the allowlist does not name', async () => {
      const target = await startServer(
        (_request, response) => serveImage(response),
        '127.0.0.2',
      );
      const server = await startServer((_request, response) =>
        redirect(response, `${target.url}/stolen`),
      );
      const error = await failure(
        fetcher({ allow: '127.0.0.1/32' }).download(
          `${server.url}/start`,
          destination,
        ),
      );
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toBe(
        `refused ${target.url} (redirected from ${server.url}): 127.0.0.2 is a loopback address (add it to SOURCE_URL_ALLOWLIST to allow it)`,
      );
      expect(target.hits).toEqual([]);
      expect(existsSync(destination)).toBe(false);
    });

    it('refuses a redirect to the cloud metadata address', async () => {
      const server = await startServer((_request, response) =>
        redirect(response, 'http://169.254.169.254/latest/meta-data/'),
      );
      const error = await failure(
        fetcher({ timeoutMs: 30_000 }).download(server.url, destination),
      );
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toContain(
        '169.254.169.254 is a link-local address',
      );
    }, 2_000);

    it('checks the resolved address of a host name reached by redirect', async () => {
      const target = await startServer((_request, response) =>
        serveImage(response),
      );
      const server = await startServer(
        (_request, response) =>
          redirect(response, `http://localhost:${target.port}/`),
        '127.0.0.2',
      );
      const error = await failure(
        fetcher({ allow: '127.0.0.2/32' }).download(server.url, destination),
      );
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toMatch(
        new RegExp(
          `^refused http://localhost:${target.port} \\(redirected from ${server.url}\\): (127\\.0\\.0\\.1|::1) is a loopback`,
        ),
      );
      expect(target.hits).toEqual([]);
    });

    it('refuses a redirect to another scheme', async () => {
      const server = await startServer((_request, response) =>
        redirect(response, 'file:///etc/passwd'),
      );
      const error = await failure(fetcher().download(server.url, destination));
      expect(error).toMatchObject({ code: 'SOURCE_REFUSED', permanent: true });
      expect(error.message).toContain(
        'only http and https URLs are allowed, not file',
      );
    });

    it('fails permanently on a redirect without a Location header', async () => {
      const server = await startServer((_request, response) =>
        response.writeHead(301).end(),
      );
      const error = await failure(fetcher().download(server.url, destination));
      expect(error).toMatchObject({
        code: 'SOURCE_UNAVAILABLE',
        permanent: true,
      });
      expect(error.message).toBe(
        `could not fetch ${server.url}: HTTP 301 redirect without a Location header`,
      );
    });
  });

  describe('size limit', () => {
    it('refuses a declared Content-Length over maxBytes and leaves no file', async () => {
      const server = await startServer((_request, response) =>
        serveImage(response),
      );
      const error = await failure(
        fetcher({ maxBytes: 1000 }).download(server.url, destination),
      );
      expect(error).toMatchObject({ code: 'IMAGE_TOO_LARGE', permanent: true });
      expect(error.message).toBe(
        `${server.url} is larger than the limit of 1000 bytes (it declares 5000 bytes)`,
      );
      expect(existsSync(destination)).toBe(false);
    });

    it('stops a chunked body once it passes maxBytes and leaves no file', async () => {
      let written = 0;
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'image/png' });
        const timer = setInterval(() => {
          written += 1000;
          if (!response.write(Buffer.alloc(1000, 7)) && written > 1_000_000)
            clearInterval(timer);
        }, 1);
        response.on('close', () => clearInterval(timer));
      });
      const error = await failure(
        fetcher({ maxBytes: 1500 }).download(server.url, destination),
      );
      expect(error).toMatchObject({ code: 'IMAGE_TOO_LARGE', permanent: true });
      expect(error.message).toBe(
        `${server.url} is larger than the limit of 1500 bytes (more than 1500 bytes arrived)`,
      );
      expect(existsSync(destination)).toBe(false);
      expect(await readdir(dir)).toEqual([]);
    });
  });

  describe('time limit', () => {
    it('gives up on a server that stalls mid-body, and leaves no file', async () => {
      const server = await startServer((_request, response) => {
        response.writeHead(200, {
          'content-type': 'image/png',
          'content-length': image.length,
        });
        response.write(image.subarray(0, 100));
      });
      const started = Date.now();
      const error = await failure(
        fetcher({ timeoutMs: 300 }).download(server.url, destination),
      );
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(error).toMatchObject({
        code: 'SOURCE_UNAVAILABLE',
        permanent: false,
      });
      expect(error.message).toBe(
        `could not fetch ${server.url}: timed out after 300 ms`,
      );
      expect(existsSync(destination)).toBe(false);
    });

    it('gives up on a server that never answers', async () => {
      const server = await startServer(() => undefined);
      const error = await failure(
        fetcher({ timeoutMs: 300 }).download(server.url, destination),
      );
      expect(error).toMatchObject({
        code: 'SOURCE_UNAVAILABLE',
        permanent: false,
        message: `could not fetch ${server.url}: timed out after 300 ms`,
      });
    });
  });

  describe('unavailable sources', () => {
    it.each([
      [404, true],
      [410, true],
      [403, true],
      [503, false],
      [500, false],
      [429, false],
      [408, false],
    ])(
      'HTTP %i fails with permanent %s, without naming the query',
      async (status, permanent) => {
        const server = await startServer((_request, response) =>
          response.writeHead(status).end('no image here'),
        );
        const error = await failure(
          fetcher().download(
            `${server.url}/a.png?signature=s3cr3t`,
            destination,
          ),
        );
        expect(error).toMatchObject({ code: 'SOURCE_UNAVAILABLE', permanent });
        expect(error.message).toBe(
          `could not fetch ${server.url}: the server answered HTTP ${status}`,
        );
        expect(existsSync(destination)).toBe(false);
      },
    );

    it('names the last hop when a redirect ends on an error status', async () => {
      const server = await startServer((request, response) =>
        request.url === '/'
          ? redirect(response, '/gone')
          : response.writeHead(404).end(),
      );
      const error = await failure(fetcher().download(server.url, destination));
      expect(error.message).toBe(
        `could not fetch ${server.url} (redirected from ${server.url}): the server answered HTTP 404`,
      );
    });

    it('treats a refused connection as transient', async () => {
      const port = await closedPort();
      const error = await failure(
        fetcher().download(`http://127.0.0.1:${port}/`, destination),
      );
      expect(error).toMatchObject({
        code: 'SOURCE_UNAVAILABLE',
        permanent: false,
      });
      expect(error.message).toBe(
        `could not fetch http://127.0.0.1:${port}: the connection was refused (ECONNREFUSED)`,
      );
    });

    it('treats a connection reset mid-body as transient and leaves no file', async () => {
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-length': image.length });
        response.write(image.subarray(0, 100), () =>
          response.socket?.destroy(),
        );
      });
      const error = await failure(fetcher().download(server.url, destination));
      expect(error).toMatchObject({
        code: 'SOURCE_UNAVAILABLE',
        permanent: false,
      });
      expect(existsSync(destination)).toBe(false);
    });

    it('treats a host name that does not exist as permanent', async () => {
      const error = await failure(
        fetcher().download('http://no-such-host.invalid/a.png', destination),
      );
      expect(error).toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
      // A resolver without network may answer EAI_AGAIN (transient) instead of
      // ENOTFOUND.
      expect(error.message).toMatch(
        /^could not fetch http:\/\/no-such-host\.invalid: .* \((ENOTFOUND|EAI_AGAIN)\)$/,
      );
      expect(error.permanent).toBe(error.message.endsWith('(ENOTFOUND)'));
    });
  });
});
