import { randomUUID } from 'node:crypto';
import {
  attemptOfJobMessage,
  jobEventId,
  queuedEventId,
  parseImageJobMessage,
  parseJobEventMessage,
  parseWorkerHeartbeat,
} from './messages';
import { ValidationFailed } from './validation';
import { problemsOf } from '../../../test/support/validation';

const JOB_ID = '3b241101-e2bb-4255-8caf-4136c566a962';

describe('queuedEventId', () => {
  it("names the job's first step, of its first attempt", () => {
    expect(queuedEventId(JOB_ID)).toBe(`${JOB_ID}/1/queued`);
  });
});

describe('jobEventId', () => {
  it('gives one started id per delivery', () => {
    expect(jobEventId(JOB_ID, 1, 'started', 1)).toBe(`${JOB_ID}/1/started/1`);
    expect(jobEventId(JOB_ID, 1, 'started', 2)).toBe(`${JOB_ID}/1/started/2`);
    expect(jobEventId(JOB_ID, 3, 'started', 2)).toBe(`${JOB_ID}/3/started/2`);
  });

  it('gives one outcome id per attempt, whatever the delivery and outcome', () => {
    const ids = [
      jobEventId(JOB_ID, 2, 'succeeded', 1),
      jobEventId(JOB_ID, 2, 'succeeded', 4),
      jobEventId(JOB_ID, 2, 'failed', 3),
    ];
    expect(new Set(ids)).toEqual(new Set([`${JOB_ID}/2/outcome`]));
  });

  it('distinguishes attempts and jobs', () => {
    const other = randomUUID();
    const ids = [
      jobEventId(JOB_ID, 1, 'succeeded', 1),
      jobEventId(JOB_ID, 2, 'succeeded', 1),
      jobEventId(other, 1, 'succeeded', 1),
      jobEventId(JOB_ID, 1, 'started', 1),
    ];
    expect(new Set(ids).size).toBe(4);
  });
});

describe('attemptOfJobMessage', () => {
  it('reads the attempt a job message names', () => {
    expect(attemptOfJobMessage({ jobId: JOB_ID, attempt: 3 })).toBe(3);
  });

  it('reads a message without a valid attempt as the first, as workers run it', () => {
    for (const payload of [
      { jobId: JOB_ID },
      { attempt: 0 },
      { attempt: -2 },
      { attempt: 1.5 },
      { attempt: '2' },
      null,
      'text',
      [2],
    ]) {
      expect(attemptOfJobMessage(payload)).toBe(1);
    }
  });
});

describe('parseImageJobMessage', () => {
  const valid = () => ({
    jobId: JOB_ID,
    attempt: 1,
    source: { kind: 'images', path: 'photos/cat.jpg' },
    operations: [{ op: 'resize', width: 100 }, { op: 'grayscale' }],
    output: { format: 'png' },
    submittedAt: '2024-05-01T12:00:00.000Z',
  });

  it('returns a valid images-folder job as plain data', () => {
    const message = parseImageJobMessage(valid());
    expect(message).toEqual(valid());
    expect(Object.getPrototypeOf(message)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(message.source)).toBe(Object.prototype);
    expect(message.source).toStrictEqual({
      kind: 'images',
      path: 'photos/cat.jpg',
    });
    message.operations.forEach((operation) =>
      expect(Object.getPrototypeOf(operation)).toBe(Object.prototype),
    );
  });

  it('returns a valid upload job with its key', () => {
    const message = parseImageJobMessage({
      ...valid(),
      attempt: 3,
      source: { kind: 'upload', key: `uploads/${JOB_ID}` },
    });
    expect(message.source).toStrictEqual({
      kind: 'upload',
      key: `uploads/${JOB_ID}`,
    });
    expect(message.attempt).toBe(3);
  });

  it('accepts a URL source', () => {
    const message = parseImageJobMessage({
      ...valid(),
      source: { kind: 'url', url: 'https://example.com/a.jpg' },
    });
    expect(message.source).toStrictEqual({
      kind: 'url',
      url: 'https://example.com/a.jpg',
    });
    expect(
      problemsOf(() =>
        parseImageJobMessage({
          ...valid(),
          source: { kind: 'url', path: 'a.jpg' },
        }),
      ),
    ).toEqual(['message.source.url is required for kind url']);
  });

  it('keeps only the reference that matches the kind', () => {
    const message = parseImageJobMessage({
      ...valid(),
      source: { kind: 'upload', key: 'uploads/a', path: 'ignored.jpg' },
    });
    expect(message.source).toStrictEqual({ kind: 'upload', key: 'uploads/a' });
  });

  it('defaults a missing output to empty options', () => {
    const { output: _omitted, ...rest } = valid();
    expect(parseImageJobMessage(rest).output).toEqual({});
  });

  it('accepts UUIDs of any version, in either case, and ISO 8601 dates with an offset', () => {
    for (const jobId of [
      '3b241101-e2bb-1255-8caf-4136c566a962',
      '0190a6e0-e2bb-7255-8caf-4136c566a962',
      JOB_ID.toUpperCase(),
    ]) {
      expect(parseImageJobMessage({ ...valid(), jobId }).jobId).toBe(jobId);
    }
    expect(
      parseImageJobMessage({
        ...valid(),
        submittedAt: '2024-05-01T14:00:00+02:00',
      }).submittedAt,
    ).toBe('2024-05-01T14:00:00+02:00');
  });

  describe('poison messages throw ValidationFailed', () => {
    it.each([
      ['a string', 'hello'],
      ['null', null],
      ['an array', [valid()]],
    ])('a message that is %s', (_label, raw) => {
      expect(problemsOf(() => parseImageJobMessage(raw))).toEqual([
        'message must be an object',
      ]);
    });

    it('a missing jobId', () => {
      const { jobId: _omitted, ...rest } = valid();
      expect(problemsOf(() => parseImageJobMessage(rest))).toEqual([
        'message.jobId must be a UUID',
      ]);
    });

    it.each(['not-a-uuid', '3b241101e2bb42558caf4136c566a962x', ''])(
      'a jobId that is not a UUID: %j',
      (jobId) => {
        expect(
          problemsOf(() => parseImageJobMessage({ ...valid(), jobId })),
        ).toEqual(['message.jobId must be a UUID']);
      },
    );

    it.each([
      [0, ['message.attempt must not be less than 1']],
      [1.5, ['message.attempt must be an integer number']],
      ['1', ['message.attempt must be an integer number']],
    ])('an attempt of %j', (attempt, problems) => {
      expect(
        problemsOf(() => parseImageJobMessage({ ...valid(), attempt })),
      ).toEqual(expect.arrayContaining(problems));
    });

    it('an unknown source kind', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'ftp', path: 'x' },
          }),
        ),
      ).toEqual([
        'message.source.kind must be one of the following values: images, upload, url',
      ]);
    });

    it('a missing path for kind images', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({ ...valid(), source: { kind: 'images' } }),
        ),
      ).toEqual(['message.source.path is required for kind images']);
    });

    it('a missing key for kind upload, even with a path', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'upload', path: 'cat.jpg' },
          }),
        ),
      ).toEqual(['message.source.key is required for kind upload']);
    });

    it('an empty path', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'images', path: '' },
          }),
        ),
      ).toContain('message.source.path should not be empty');
    });

    it('an unknown field inside source', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'images', path: 'a.jpg', bucket: 'b' },
          }),
        ),
      ).toEqual(['message.source.bucket is not a known field']);
    });

    it('a source that is not an object', () => {
      const problems = problemsOf(() =>
        parseImageJobMessage({ ...valid(), source: 'photos/cat.jpg' }),
      );
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^message\.source/);
    });

    it('a null source', () => {
      const problems = problemsOf(() =>
        parseImageJobMessage({ ...valid(), source: null }),
      );
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^message\.source/);
    });

    it('a source that is an array', () => {
      expect(() =>
        parseImageJobMessage({
          ...valid(),
          source: [{ kind: 'images', path: 'a.jpg' }],
        }),
      ).toThrow(ValidationFailed);
    });

    it('a missing source', () => {
      const { source: _omitted, ...rest } = valid();
      expect(problemsOf(() => parseImageJobMessage(rest))).toEqual([
        expect.stringMatching(/^message\.source/),
      ]);
    });

    it('an invalid submittedAt', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({ ...valid(), submittedAt: 'yesterday' }),
        ),
      ).toEqual(['message.submittedAt must be a valid ISO 8601 date string']);
    });

    it('missing operations', () => {
      const { operations: _omitted, ...rest } = valid();
      expect(problemsOf(() => parseImageJobMessage(rest))).toEqual([
        'message.operations is required (a JSON array of operations)',
      ]);
    });

    it('bad operations and output, located under message.', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            operations: [{ op: 'resize' }],
            output: { format: 'bmp' },
          }),
        ),
      ).toEqual([
        'message.operations[0].width: resize needs width and/or height',
        'message.output.format must be one of the following values: jpeg, png, webp, avif, tiff, gif',
      ]);
    });

    it('an unknown top-level field', () => {
      expect(
        problemsOf(() => parseImageJobMessage({ ...valid(), priority: 9 })),
      ).toEqual(['message.priority is not a known field']);
    });

    it.each([5, null, true])('a jobId that is not a string: %j', (jobId) => {
      expect(
        problemsOf(() => parseImageJobMessage({ ...valid(), jobId })),
      ).toEqual(['message.jobId must be a UUID']);
    });

    it('a jobId whose variant is not RFC 4122', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            jobId: '3b241101-e2bb-4255-cbaf-4136c566a962',
          }),
        ),
      ).toEqual(['message.jobId must be a UUID']);
    });

    it.each([
      [-1, 'message.attempt must not be less than 1'],
      [Infinity, 'message.attempt must be an integer number'],
      [undefined, 'message.attempt must be an integer number'],
      [null, 'message.attempt must be an integer number'],
      [true, 'message.attempt must be an integer number'],
    ])('an attempt of %j', (attempt, problem) => {
      const problems = problemsOf(() =>
        parseImageJobMessage({ ...valid(), attempt }),
      );
      expect(problems).toContain(problem);
      expect(
        problems.every((text) => text.startsWith('message.attempt ')),
      ).toBe(true);
    });

    it.each([undefined, 5, '2024-05-01T25:00:00Z', '01/05/2024'])(
      'a submittedAt of %j',
      (submittedAt) => {
        expect(
          problemsOf(() => parseImageJobMessage({ ...valid(), submittedAt })),
        ).toEqual(['message.submittedAt must be a valid ISO 8601 date string']);
      },
    );

    it.each([
      { path: 'a.jpg' },
      { kind: null, path: 'a.jpg' },
      { kind: 7, path: 'a.jpg' },
    ])('a source without a known kind: %j', (source) => {
      expect(
        problemsOf(() => parseImageJobMessage({ ...valid(), source })),
      ).toEqual([
        'message.source.kind must be one of the following values: images, upload, url',
      ]);
    });

    it('a reference that is not a string, even one the kind does not use', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'images', path: 5 },
          }),
        ),
      ).toEqual(['message.source.path must be a string']);
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'images', path: 'a.jpg', key: 5 },
          }),
        ),
      ).toEqual(['message.source.key must be a string']);
    });

    it('a null reference for the kind', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'upload', key: null },
          }),
        ),
      ).toEqual(['message.source.key is required for kind upload']);
    });

    it('an unknown field and an unknown kind inside source, both named', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'ftp', bucket: 'b' },
          }),
        ).sort(),
      ).toEqual([
        'message.source.bucket is not a known field',
        'message.source.kind must be one of the following values: images, upload, url',
      ]);
    });

    it('a source that is a number', () => {
      const problems = problemsOf(() =>
        parseImageJobMessage({ ...valid(), source: 42 }),
      );
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^message\.source/);
    });

    it('an empty array as source', () => {
      expect(() => parseImageJobMessage({ ...valid(), source: [] })).toThrow(
        ValidationFailed,
      );
    });

    it('several unknown top-level fields, each named', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({ ...valid(), priority: 9, queue: 'fast' }),
        ),
      ).toEqual([
        'message.priority is not a known field',
        'message.queue is not a known field',
      ]);
    });

    it('null operations, and null variants', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({ ...valid(), operations: null }),
        ),
      ).toEqual(['message.operations must be an array of operations']);
      expect(
        problemsOf(() => parseImageJobMessage({ ...valid(), variants: null })),
      ).toEqual(['message.variants must be an array of 1 to 8 variants']);
    });

    it('an empty object, naming every missing field', () => {
      expect(problemsOf(() => parseImageJobMessage({}))).toEqual(
        expect.arrayContaining([
          'message.jobId must be a UUID',
          'message.attempt must be an integer number',
          'message.source is required (an object with kind and path or key)',
          'message.submittedAt must be a valid ISO 8601 date string',
          'message.operations is required (a JSON array of operations)',
        ]),
      );
    });

    it('envelope and operation problems together', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            jobId: 'x',
            submittedAt: 'y',
            operations: 'flip',
            extra: 1,
          }),
        ),
      ).toEqual(
        expect.arrayContaining([
          'message.extra is not a known field',
          'message.jobId must be a UUID',
          'message.submittedAt must be a valid ISO 8601 date string',
          'message.operations must be an array of operations',
        ]),
      );
    });

    it.each([
      [[{ kind: 'images', path: 'a.jpg' }]],
      [[]],
      ['photos/cat.jpg'],
      [42],
    ])(
      'a source that is not an object, in one problem that says so: %j',
      (source) => {
        expect(
          problemsOf(() => parseImageJobMessage({ ...valid(), source })),
        ).toEqual([
          'message.source must be an object with kind and path, key or url',
        ]);
      },
    );

    it('a missing reference beside other envelope problems', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            jobId: 'x',
            source: { kind: 'images' },
          }),
        ),
      ).toEqual([
        'message.jobId must be a UUID',
        'message.source.path is required for kind images',
      ]);
    });

    it('reports a missing path and bad operations together', () => {
      expect(
        problemsOf(() =>
          parseImageJobMessage({
            ...valid(),
            source: { kind: 'images' },
            operations: 'flip',
          }),
        ),
      ).toEqual([
        'message.source.path is required for kind images',
        'message.operations must be an array of operations',
      ]);
    });
  });
});

describe('parseJobEventMessage', () => {
  const base = () => ({
    eventId: `${JOB_ID}/1/started/1`,
    jobId: JOB_ID,
    type: 'started',
    attempt: 1,
    delivery: 1,
    workerId: 'worker-1',
    at: '2024-05-01T12:00:01.000Z',
  });
  const output = {
    key: `outputs/${JOB_ID}`,
    format: 'png',
    width: 10,
    height: 20,
    sizeBytes: 300,
  };
  const error = { code: 'INVALID_IMAGE', message: 'bad bytes' };

  it('returns a started event as a plain object', () => {
    const event = parseJobEventMessage(base());
    expect(event).toEqual(base());
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
  });

  it('returns a succeeded event with its outputs', () => {
    const outputs = [{ name: 'thumb', ...output }];
    const event = parseJobEventMessage({
      ...base(),
      eventId: `${JOB_ID}/1/outcome`,
      type: 'succeeded',
      outputs,
    });
    expect(event.type).toBe('succeeded');
    expect(event.outputs).toEqual(outputs);
  });

  it('reads the single output of an event from an older worker as the default output', () => {
    const event = parseJobEventMessage({
      ...base(),
      eventId: `${JOB_ID}/1/outcome`,
      type: 'succeeded',
      output,
    });
    expect(event.outputs).toEqual([{ name: 'default', ...output }]);
    expect(event).not.toHaveProperty('output');
  });

  it('refuses a succeeded event without outputs', () => {
    expect(() =>
      parseJobEventMessage({
        ...base(),
        eventId: `${JOB_ID}/1/outcome`,
        type: 'succeeded',
        outputs: [],
      }),
    ).toThrow('message.outputs is required for a succeeded event');
  });

  it('returns a failed event with its error', () => {
    const event = parseJobEventMessage({ ...base(), type: 'failed', error });
    expect(event.error).toEqual(error);
  });

  it('requires outputs for a succeeded event', () => {
    expect(
      problemsOf(() => parseJobEventMessage({ ...base(), type: 'succeeded' })),
    ).toEqual(['message.outputs is required for a succeeded event']);
  });

  it('requires error for a failed event', () => {
    expect(
      problemsOf(() => parseJobEventMessage({ ...base(), type: 'failed' })),
    ).toEqual(['message.error is required for a failed event']);
  });

  it.each([
    [
      'type',
      { type: 'queued' },
      'message.type must be one of the following values: started, retrying, succeeded, failed',
    ],
    ['jobId', { jobId: 'abc' }, 'message.jobId must be a UUID'],
    ['delivery', { delivery: 0 }, 'message.delivery must not be less than 1'],
    ['attempt', { attempt: 0 }, 'message.attempt must not be less than 1'],
    ['workerId', { workerId: '' }, 'message.workerId should not be empty'],
    ['eventId', { eventId: '' }, 'message.eventId should not be empty'],
    ['at', { at: 'noon' }, 'message.at must be a valid ISO 8601 date string'],
    [
      'error',
      { type: 'failed', error: 'boom' },
      'message.error must be an object',
    ],
    [
      'output',
      { type: 'succeeded', output: [output] },
      'message.output must be an object',
    ],
    ['an unknown field', { retry: true }, 'message.retry is not a known field'],
  ])('rejects a bad %s', (_label, change, problem) => {
    expect(
      problemsOf(() => parseJobEventMessage({ ...base(), ...change })),
    ).toEqual([problem]);
  });

  it.each([
    [
      'outputs that are not an array',
      { type: 'succeeded', outputs: { name: 'default' } },
      ['message.outputs must be an array'],
    ],
    [
      'outputs of strings',
      { type: 'succeeded', outputs: ['outputs/a'] },
      ['message.outputs: each value in outputs must be an object'],
    ],
    [
      'outputs holding null',
      { type: 'succeeded', outputs: [null] },
      ['message.outputs: each value in outputs must be an object'],
    ],
    [
      'outputs holding arrays',
      { type: 'succeeded', outputs: [[output]] },
      ['message.outputs: each value in outputs must be an object'],
    ],
    [
      'an error that is an array',
      { type: 'failed', error: [error] },
      ['message.error must be an object'],
    ],
    [
      'a startedAt that is not a date',
      { type: 'failed', error, startedAt: 'earlier' },
      ['message.startedAt must be a valid ISO 8601 date string'],
    ],
    [
      'a retrying event without error',
      { type: 'retrying' },
      ['message.error is required for a retrying event'],
    ],
    [
      'a null error on a failed event',
      { type: 'failed', error: null },
      ['message.error is required for a failed event'],
    ],
    [
      'a null type',
      { type: null },
      [
        'message.type must be one of the following values: started, retrying, succeeded, failed',
      ],
    ],
    [
      'an eventId that is a number',
      { eventId: 7 },
      ['message.eventId must be a string'],
    ],
    [
      'a workerId that is a number',
      { workerId: 7 },
      ['message.workerId must be a string'],
    ],
    [
      'a fractional delivery',
      { delivery: 1.5 },
      ['message.delivery must be an integer number'],
    ],
    [
      'a fractional attempt',
      { attempt: 2.5 },
      ['message.attempt must be an integer number'],
    ],
    [
      'a missing at',
      { at: undefined },
      ['message.at must be a valid ISO 8601 date string'],
    ],
    ['a missing jobId', { jobId: undefined }, ['message.jobId must be a UUID']],
    [
      'two unknown fields',
      { retry: true, queue: 'x' },
      [
        'message.retry is not a known field',
        'message.queue is not a known field',
      ],
    ],
  ])('rejects %s', (_label, change, problems) => {
    expect(
      problemsOf(() => parseJobEventMessage({ ...base(), ...change })),
    ).toEqual(problems);
  });

  it.each([
    ['eventId', { eventId: undefined }, 'message.eventId must be a string'],
    ['workerId', { workerId: undefined }, 'message.workerId must be a string'],
    [
      'delivery',
      { delivery: '1' },
      'message.delivery must be an integer number',
    ],
    [
      'attempt',
      { attempt: undefined },
      'message.attempt must be an integer number',
    ],
  ])('rejects a missing or mistyped %s', (field, change, problem) => {
    const problems = problemsOf(() =>
      parseJobEventMessage({ ...base(), ...change }),
    );
    expect(problems).toContain(problem);
    expect(problems.every((text) => text.startsWith(`message.${field} `))).toBe(
      true,
    );
  });

  it('names every problem of a message broken everywhere', () => {
    const broken = {
      eventId: '',
      jobId: 1,
      type: 'x',
      attempt: 0,
      delivery: 1.5,
      workerId: 3,
      at: 'no',
      outputs: 1,
      output: 1,
      error: 1,
      startedAt: 1,
      zz: 1,
    };
    expect(problemsOf(() => parseJobEventMessage(broken))).toEqual(
      expect.arrayContaining([
        'message.zz is not a known field',
        'message.eventId should not be empty',
        'message.jobId must be a UUID',
        'message.type must be one of the following values: started, retrying, succeeded, failed',
        'message.attempt must not be less than 1',
        'message.delivery must be an integer number',
        'message.workerId must be a string',
        'message.at must be a valid ISO 8601 date string',
        'message.outputs must be an array',
        'message.output must be an object',
        'message.error must be an object',
        'message.startedAt must be a valid ISO 8601 date string',
      ]),
    );
  });

  it('checks what a type requires only of an event whose fields are valid', () => {
    expect(
      problemsOf(() =>
        parseJobEventMessage({ ...base(), type: 'done', outputs: [] }),
      ),
    ).toEqual([
      'message.type must be one of the following values: started, retrying, succeeded, failed',
    ]);
    expect(
      problemsOf(() =>
        parseJobEventMessage({ ...base(), type: 'succeeded', at: 'noon' }),
      ),
    ).toEqual(['message.at must be a valid ISO 8601 date string']);
  });

  it('prefers outputs to the single output of an older worker when both are given', () => {
    const outputs = [{ name: 'thumb', ...output }];
    expect(
      parseJobEventMessage({ ...base(), type: 'succeeded', outputs, output })
        .outputs,
    ).toEqual(outputs);
  });

  it('keeps the startedAt of an outcome', () => {
    const startedAt = '2024-05-01T12:00:00.500Z';
    expect(
      parseJobEventMessage({ ...base(), type: 'failed', error, startedAt })
        .startedAt,
    ).toBe(startedAt);
  });

  it('reads a null optional field as absent', () => {
    expect(
      parseJobEventMessage({ ...base(), startedAt: null }).startedAt ??
        undefined,
    ).toBeUndefined();
    expect(
      parseJobEventMessage({ ...base(), type: 'failed', error, outputs: null })
        .outputs ?? undefined,
    ).toBeUndefined();
  });

  it('leaves absent and null optional fields out of the event', () => {
    expect(
      parseJobEventMessage({ ...base(), startedAt: null, error: null }),
    ).toStrictEqual(base());
    expect(
      parseJobEventMessage({ ...base(), type: 'failed', error, outputs: null }),
    ).toStrictEqual({ ...base(), type: 'failed', error });
  });

  it('rejects an array', () => {
    expect(problemsOf(() => parseJobEventMessage([base()]))).toEqual([
      'message must be an object',
    ]);
  });

  it('rejects a message that is not an object', () => {
    expect(problemsOf(() => parseJobEventMessage('started'))).toEqual([
      'message must be an object',
    ]);
  });
});

describe('parseWorkerHeartbeat', () => {
  const beat = () => ({
    workerId: 'worker-1',
    host: 'host-a',
    pid: 4242,
    startedAt: '2024-05-01T12:00:00.000Z',
    at: '2024-05-01T12:00:05.000Z',
    jobsSucceeded: 10,
    jobsFailed: 1,
    inFlight: 2,
    stopping: false,
  });

  it('returns a heartbeat as a plain object', () => {
    const parsed = parseWorkerHeartbeat(beat());
    expect(parsed).toStrictEqual(beat());
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  it('accepts an empty host and zero counts', () => {
    expect(
      parseWorkerHeartbeat({
        ...beat(),
        host: '',
        pid: 0,
        jobsSucceeded: 0,
        jobsFailed: 0,
        inFlight: 0,
        stopping: true,
      }),
    ).toMatchObject({ host: '', stopping: true });
  });

  it.each([
    ['workerId', { workerId: '' }, 'message.workerId should not be empty'],
    ['host', { host: 7 }, 'message.host must be a string'],
    ['pid', { pid: -1 }, 'message.pid must not be less than 0'],
    ['pid', { pid: 1.5 }, 'message.pid must be an integer number'],
    [
      'startedAt',
      { startedAt: 'boot' },
      'message.startedAt must be a valid ISO 8601 date string',
    ],
    ['at', { at: 17 }, 'message.at must be a valid ISO 8601 date string'],
    [
      'jobsSucceeded',
      { jobsSucceeded: -3 },
      'message.jobsSucceeded must not be less than 0',
    ],
    [
      'jobsFailed',
      { jobsFailed: 0.5 },
      'message.jobsFailed must be an integer number',
    ],
    ['inFlight', { inFlight: -1 }, 'message.inFlight must not be less than 0'],
    [
      'stopping',
      { stopping: 'false' },
      'message.stopping must be a boolean value',
    ],
    [
      'stopping',
      { stopping: undefined },
      'message.stopping must be a boolean value',
    ],
    [
      'an unknown field',
      { version: '1.0' },
      'message.version is not a known field',
    ],
  ])('rejects a bad %s', (_label, change, problem) => {
    expect(
      problemsOf(() => parseWorkerHeartbeat({ ...beat(), ...change })),
    ).toEqual([problem]);
  });

  it('names every missing field', () => {
    expect(problemsOf(() => parseWorkerHeartbeat({}))).toEqual(
      expect.arrayContaining([
        'message.workerId must be a string',
        'message.host must be a string',
        'message.pid must be an integer number',
        'message.startedAt must be a valid ISO 8601 date string',
        'message.at must be a valid ISO 8601 date string',
        'message.jobsSucceeded must be an integer number',
        'message.jobsFailed must be an integer number',
        'message.inFlight must be an integer number',
        'message.stopping must be a boolean value',
      ]),
    );
  });

  it.each([null, 'beat', [1]])('rejects %j', (raw) => {
    expect(problemsOf(() => parseWorkerHeartbeat(raw))).toEqual([
      'message must be an object',
    ]);
  });
});
