import {
  checkSourceUrl,
  describeOrigin,
  literalAddressOf,
  parseSourcePorts,
  portOf,
  sourcePortsProblem,
} from './source-url';

function hostOf(raw: string): string {
  const checked = checkSourceUrl(raw, parseSourcePorts('80,443,8000-8999'));
  if ('problem' in checked) throw new Error(checked.problem);
  return checked.url.hostname;
}

describe('checkSourceUrl', () => {
  it.each([
    ['http://example.com/a.jpg', 'example.com'],
    ['https://images.example.com:8443/x?y=1', 'images.example.com'],
    ['HTTP://EXAMPLE.com/', 'example.com'],
    ['http://2130706433/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://0x7f.0.0.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://[::1]:8080/', '[::1]'],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
  ])('accepts %s with the host %s', (raw, host) => {
    expect(hostOf(raw)).toBe(host);
  });

  it.each([
    [
      'ftp://example.com/a.jpg',
      'only http and https URLs are allowed, not ftp',
    ],
    ['file:///etc/passwd', 'only http and https URLs are allowed, not file'],
    [
      'gopher://127.0.0.1:6379/_INFO',
      'only http and https URLs are allowed, not gopher',
    ],
    [
      'data:image/png;base64,AAAA',
      'only http and https URLs are allowed, not data',
    ],
    [
      'http://user:secret@example.com/',
      'the URL must not contain a user name or password',
    ],
    [
      'http://user@example.com/',
      'the URL must not contain a user name or password',
    ],
    ['/relative/path.jpg', 'it is not a valid absolute URL'],
    ['http://', 'it is not a valid absolute URL'],
    ['', 'it is not a valid absolute URL'],
    [
      `http://example.com/${'a'.repeat(2048)}`,
      'the URL is longer than 2048 characters',
    ],
  ])('refuses %s', (raw, problem) => {
    expect(checkSourceUrl(raw)).toEqual({ problem });
  });

  it('accepts a URL of exactly 2048 characters', () => {
    const raw = `http://example.com/${'a'.repeat(2048 - 'http://example.com/'.length)}`;
    expect(raw).toHaveLength(2048);
    expect('url' in checkSourceUrl(raw)).toBe(true);
  });
});

describe('SOURCE_URL_PORTS', () => {
  it.each([
    ['80,443', '80,443'],
    [' 443 , 80 ', '443,80'],
    ['8000-8099,443', '8000-8099,443'],
    ['1-65535', '1-65535'],
  ])('reads %j as %j', (text, normalised) => {
    expect(parseSourcePorts(text).text).toBe(normalised);
  });

  it.each([
    ['', 'must name at least one port (e.g. 80,443)'],
    [' , ', 'must name at least one port (e.g. 80,443)'],
    [
      '80,http',
      'has the invalid entry "http": expected ports 1 to 65535 or ranges such as 8000-8099, comma-separated',
    ],
    [
      '0',
      'has the invalid entry "0": expected ports 1 to 65535 or ranges such as 8000-8099, comma-separated',
    ],
    [
      '65536',
      'has the invalid entry "65536": expected ports 1 to 65535 or ranges such as 8000-8099, comma-separated',
    ],
    [
      '443,9000-8000',
      'has the invalid entry "9000-8000": expected ports 1 to 65535 or ranges such as 8000-8099, comma-separated',
    ],
    [
      '80-',
      'has the invalid entry "80-": expected ports 1 to 65535 or ranges such as 8000-8099, comma-separated',
    ],
  ])('refuses %j: %s', (text, problem) => {
    expect(sourcePortsProblem(text)).toBe(problem);
    expect(() => parseSourcePorts(text)).toThrow(`SOURCE_URL_PORTS ${problem}`);
  });

  it.each([
    ['http://example.com/', 80],
    ['https://example.com/', 443],
    ['http://example.com:443/', 443],
    ['https://example.com:80/', 80],
    ['http://example.com:8080/', 8080],
  ])('%s connects to port %i', (raw, port) => {
    expect(portOf(new URL(raw))).toBe(port);
  });

  it('allows only 80 and 443 by default, naming the port and the setting otherwise', () => {
    expect('url' in checkSourceUrl('http://example.com/a.jpg')).toBe(true);
    expect('url' in checkSourceUrl('https://example.com/a.jpg')).toBe(true);
    expect(checkSourceUrl('http://example.com:8080/a.jpg')).toEqual({
      problem: 'port 8080 is not one of SOURCE_URL_PORTS (80,443)',
    });
    expect(checkSourceUrl('http://127.0.0.1:6379/')).toEqual({
      problem: 'port 6379 is not one of SOURCE_URL_PORTS (80,443)',
    });
    expect(checkSourceUrl('https://example.com:22/')).toEqual({
      problem: 'port 22 is not one of SOURCE_URL_PORTS (80,443)',
    });
  });

  it('follows the list given, ranges included', () => {
    const ports = parseSourcePorts('443,8000-8099');
    expect('url' in checkSourceUrl('https://example.com/', ports)).toBe(true);
    expect('url' in checkSourceUrl('http://example.com:8000/', ports)).toBe(
      true,
    );
    expect('url' in checkSourceUrl('http://example.com:8099/', ports)).toBe(
      true,
    );
    expect(checkSourceUrl('http://example.com/', ports)).toEqual({
      problem: 'port 80 is not one of SOURCE_URL_PORTS (443,8000-8099)',
    });
    expect(checkSourceUrl('http://example.com:8100/', ports)).toEqual({
      problem: 'port 8100 is not one of SOURCE_URL_PORTS (443,8000-8099)',
    });
  });
});

describe('literalAddressOf', () => {
  it.each([
    ['http://example.com/', null],
    ['http://localhost:3000/', null],
    ['http://127.0.0.1/', '127.0.0.1'],
    ['http://2130706433/', '127.0.0.1'],
    ['http://[::1]:80/', '::1'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1'],
    ['https://[fe80::1]/', 'fe80::1'],
  ])('%s names %j', (raw, expected) => {
    expect(literalAddressOf(new URL(raw))).toBe(expected);
  });
});

describe('describeOrigin', () => {
  it('keeps user info, path and query out', () => {
    expect(
      describeOrigin(
        new URL('https://user:pw@example.com:8443/secret/path?token=abc#x'),
      ),
    ).toBe('https://example.com:8443');
  });
});
