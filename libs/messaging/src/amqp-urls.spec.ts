import {
  amqpUrlListProblem,
  connectionRound,
  nodeLabel,
  parseAmqpUrls,
  redactUrl,
  roundDelay,
} from './amqp-urls';

describe('AMQP_URL: one node or a list', () => {
  it('takes one URL as a list of one', () => {
    expect(parseAmqpUrls('amqp://guest:guest@127.0.0.1:5672')).toEqual([
      'amqp://guest:guest@127.0.0.1:5672',
    ]);
  });

  it('takes comma-separated nodes, trimmed, ignoring empty entries, amqp and amqps mixed', () => {
    expect(
      parseAmqpUrls(
        ' amqp://u:p@rabbit-1:5672, amqps://u:p@rabbit-2:5671/vhost ,amqp://u:p@rabbit-3,',
      ),
    ).toEqual([
      'amqp://u:p@rabbit-1:5672',
      'amqps://u:p@rabbit-2:5671/vhost',
      'amqp://u:p@rabbit-3',
    ]);
  });

  it('takes one URL with several hosts: each gets the scheme, credentials, vhost and query', () => {
    expect(
      parseAmqpUrls(
        'amqp://u:p@rabbit-1:5672,rabbit-2:5672,rabbit-3/vh?heartbeat=5',
      ),
    ).toEqual([
      'amqp://u:p@rabbit-1:5672/vh?heartbeat=5',
      'amqp://u:p@rabbit-2:5672/vh?heartbeat=5',
      'amqp://u:p@rabbit-3/vh?heartbeat=5',
    ]);
    expect(parseAmqpUrls('amqps://u:p@a/vh, b')).toEqual([
      'amqps://u:p@a/vh',
      'amqps://u:p@b/vh',
    ]);
    expect(parseAmqpUrls('amqp://a,b:5673')).toEqual([
      'amqp://a',
      'amqp://b:5673',
    ]);
  });

  it('mixes both forms', () => {
    expect(parseAmqpUrls('amqp://u:p@a,b,amqps://v:q@c:5671')).toEqual([
      'amqp://u:p@a',
      'amqp://u:p@b',
      'amqps://v:q@c:5671',
    ]);
  });

  it('names the bad entry, by position in a list, without its password', () => {
    expect(
      amqpUrlListProblem('amqp://u:secret@a:5672,http://u:secret@b:80'),
    ).toBe(
      'must be amqp:// or amqps:// URLs, comma-separated: entry 2 ("http://u:***@b:80") is not amqp:// or amqps://',
    );
    expect(amqpUrlListProblem('amqp://a:5672,not a url')).toBe(
      'must be amqp:// or amqps:// URLs, comma-separated: entry 2 ("amqp://not a url") is not a URL',
    );
    expect(amqpUrlListProblem('not a url,amqp://a')).toBe(
      'must be amqp:// or amqps:// URLs, comma-separated: entry 1 ("not a url") is not a URL',
    );
    expect(amqpUrlListProblem('amqp://a,u:pw@b')).toBe(
      'must be amqp:// or amqps:// URLs, comma-separated: entry 2 ("u:***@b") is not amqp:// or amqps://',
    );
    expect(amqpUrlListProblem('http://x')).toBe(
      'must be amqp:// or amqps:// URLs, comma-separated: "http://x" is not amqp:// or amqps://',
    );
    expect(() => parseAmqpUrls('amqp://u:pw@a,ftp://u:pw@b')).toThrow(
      'AMQP_URL must be amqp:// or amqps:// URLs, comma-separated: entry 2 ("ftp://u:***@b") is not amqp:// or amqps://',
    );
  });

  it('refuses an empty list and a URL without a host', () => {
    expect(amqpUrlListProblem('')).toBe(
      'must be one or more amqp:// or amqps:// URLs, comma-separated',
    );
    expect(amqpUrlListProblem(' , ')).toBe(
      'must be one or more amqp:// or amqps:// URLs, comma-separated',
    );
    expect(amqpUrlListProblem(42)).toBe(
      'must be one or more amqp:// or amqps:// URLs, comma-separated',
    );
    expect(amqpUrlListProblem('amqp://')).toMatch(
      /"amqp:\/\/" names no host|is not a URL/,
    );
    expect(amqpUrlListProblem('amqp://a,amqp://b')).toBeUndefined();
  });
});

describe('redactUrl and nodeLabel: what logs may show', () => {
  it('hides the password and keeps the rest', () => {
    expect(
      redactUrl('amqp://pipeline:s3cret@rabbit-1:5672/vh?heartbeat=15'),
    ).toBe('amqp://pipeline:***@rabbit-1:5672/vh?heartbeat=15');
    expect(redactUrl('amqp://rabbit-1:5672')).toBe('amqp://rabbit-1:5672');
    expect(redactUrl('amqp://user:p%40ss@host')).not.toContain('p%40ss');
  });

  it('hides what could be credentials in something that is not a URL', () => {
    expect(redactUrl('amqp://u:pw@ bad host')).not.toContain('pw');
    expect(redactUrl('u:pw@host')).toBe('u:***@host');
    expect(redactUrl('amqp://host:5672/v@x')).toBe('amqp://host:5672/v@x');
  });

  it('labels a node by host and port, with the scheme default port', () => {
    expect(nodeLabel('amqp://u:secret@rabbit-2:5673/vh')).toBe('rabbit-2:5673');
    expect(nodeLabel('amqp://u:secret@rabbit-2')).toBe('rabbit-2:5672');
    expect(nodeLabel('amqps://u:secret@rabbit-2')).toBe('rabbit-2:5671');
    expect(nodeLabel('amqp://[::1]:5681')).toBe('[::1]:5681');
  });
});

describe('connectionRound: which node to try next', () => {
  it('tries every node once, starting with the given one and wrapping around', () => {
    expect(connectionRound(3, 0)).toEqual([0, 1, 2]);
    expect(connectionRound(3, 1)).toEqual([1, 2, 0]);
    expect(connectionRound(3, 2)).toEqual([2, 0, 1]);
  });

  it('starts after a lost node (index + 1), which is then tried last', () => {
    const lost = 2;
    expect(connectionRound(3, lost + 1)).toEqual([0, 1, 2]);
    expect(connectionRound(3, 1 + 1).at(-1)).toBe(1);
  });

  it('handles one node and no node', () => {
    expect(connectionRound(1, 5)).toEqual([0]);
    expect(connectionRound(0, 0)).toEqual([]);
    expect(connectionRound(3, -1)).toEqual([2, 0, 1]);
  });
});

describe('roundDelay: the pause after every node refused', () => {
  it('doubles from the initial delay up to the maximum', () => {
    expect(
      [1, 2, 3, 4, 5, 6, 10].map((round) => roundDelay(round, 200, 5000, 0.5)),
    ).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  it('jitters by up to 20% either way, never past the maximum', () => {
    expect(roundDelay(1, 1000, 5000, 0)).toBe(800);
    expect(roundDelay(1, 1000, 5000, 0.999999)).toBe(1200);
    expect(roundDelay(9, 1000, 5000, 0.999999)).toBe(5000);
  });
});
