import { checkSourceUrl, describeOrigin, literalAddressOf } from './source-url';

function hostOf(raw: string): string {
  const checked = checkSourceUrl(raw);
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
    ['ftp://example.com/a.jpg', 'only http and https URLs are allowed, not ftp'],
    ['file:///etc/passwd', 'only http and https URLs are allowed, not file'],
    ['gopher://127.0.0.1:6379/_INFO', 'only http and https URLs are allowed, not gopher'],
    ['data:image/png;base64,AAAA', 'only http and https URLs are allowed, not data'],
    ['http://user:secret@example.com/', 'the URL must not contain a user name or password'],
    ['http://user@example.com/', 'the URL must not contain a user name or password'],
    ['/relative/path.jpg', 'it is not a valid absolute URL'],
    ['http://', 'it is not a valid absolute URL'],
    ['', 'it is not a valid absolute URL'],
    [`http://example.com/${'a'.repeat(2048)}`, 'the URL is longer than 2048 characters'],
  ])('refuses %s', (raw, problem) => {
    expect(checkSourceUrl(raw)).toEqual({ problem });
  });

  it('accepts a URL of exactly 2048 characters', () => {
    const raw = `http://example.com/${'a'.repeat(2048 - 'http://example.com/'.length)}`;
    expect(raw).toHaveLength(2048);
    expect('url' in checkSourceUrl(raw)).toBe(true);
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
    expect(describeOrigin(new URL('https://user:pw@example.com:8443/secret/path?token=abc#x'))).toBe('https://example.com:8443');
  });
});
