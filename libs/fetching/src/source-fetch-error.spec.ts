import {
  httpStatusError,
  networkError,
  SourceFetchError,
} from './source-fetch-error';

function withCode(code: string, message = `failed: ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

describe('httpStatusError', () => {
  it.each([
    [400, true],
    [401, true],
    [403, true],
    [404, true],
    [410, true],
    [408, false],
    [429, false],
    [500, false],
    [502, false],
    [503, false],
  ])('HTTP %i is permanent: %s', (status, permanent) => {
    const error = httpStatusError(status, 'http://example.com');
    expect(error).toBeInstanceOf(SourceFetchError);
    expect(error).toMatchObject({ code: 'SOURCE_UNAVAILABLE', permanent });
    expect(error.message).toBe(
      `could not fetch http://example.com: the server answered HTTP ${status}`,
    );
  });
});

describe('networkError', () => {
  it.each([
    ['ENOTFOUND', true, 'the host name does not exist'],
    [
      'ERR_TLS_CERT_ALTNAME_INVALID',
      true,
      'its TLS certificate is not valid for this host',
    ],
    ['EAI_AGAIN', false, 'the host name could not be resolved for now'],
    ['ECONNREFUSED', false, 'the connection was refused'],
    ['ECONNRESET', false, 'the connection was reset'],
    ['UND_ERR_SOCKET', false, 'the connection failed'],
    ['UND_ERR_CONNECT_TIMEOUT', false, 'the connection timed out'],
  ])('%s is permanent: %s', (code, permanent, reason) => {
    const error = networkError(withCode(code), 'https://example.com');
    expect(error).toMatchObject({ code: 'SOURCE_UNAVAILABLE', permanent });
    expect(error.message).toBe(
      `could not fetch https://example.com: ${reason} (${code})`,
    );
  });

  it('finds the code in the cause chain', () => {
    const wrapped = new TypeError('fetch failed', {
      cause: withCode('ECONNREFUSED'),
    });
    expect(networkError(wrapped, 'http://a').message).toBe(
      'could not fetch http://a: the connection was refused (ECONNREFUSED)',
    );
  });

  it('keeps the message of an unknown error, as transient', () => {
    expect(networkError(new Error('something odd'), 'http://a')).toMatchObject({
      permanent: false,
      message: 'could not fetch http://a: something odd',
    });
    expect(
      networkError(withCode('EWHATEVER', 'odd thing'), 'http://a'),
    ).toMatchObject({
      permanent: false,
      message: 'could not fetch http://a: odd thing (EWHATEVER)',
    });
  });
});
