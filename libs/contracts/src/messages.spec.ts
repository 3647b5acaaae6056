import { randomUUID } from 'node:crypto';
import { attemptOfJobMessage, jobEventId, parseImageJobMessage, parseJobEventMessage } from './messages';
import { ValidationFailed } from './validation';
import { problemsOf } from '../../../test/support/validation';


const JOB_ID = '3b241101-e2bb-4255-8caf-4136c566a962';

describe('jobEventId', () => {
  it('gives one started id per delivery', () => {
    expect(jobEventId(JOB_ID, 1, 'started', 1)).toBe(`${JOB_ID}/1/started/1`);
    expect(jobEventId(JOB_ID, 1, 'started', 2)).toBe(`${JOB_ID}/1/started/2`);
    expect(jobEventId(JOB_ID, 3, 'started', 2)).toBe(`${JOB_ID}/3/started/2`);
  });

  it('gives one outcome id per attempt, whatever the delivery and outcome', () => {
    const ids = [jobEventId(JOB_ID, 2, 'succeeded', 1), jobEventId(JOB_ID, 2, 'succeeded', 4), jobEventId(JOB_ID, 2, 'failed', 3)];
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
    for (const payload of [{ jobId: JOB_ID }, { attempt: 0 }, { attempt: -2 }, { attempt: 1.5 }, { attempt: '2' }, null, 'text', [2]]) {
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
    expect(message.source).toStrictEqual({ kind: 'images', path: 'photos/cat.jpg' });
    message.operations.forEach((operation) => expect(Object.getPrototypeOf(operation)).toBe(Object.prototype));
  });

  it('returns a valid upload job with its key', () => {
    const message = parseImageJobMessage({ ...valid(), attempt: 3, source: { kind: 'upload', key: `uploads/${JOB_ID}` } });
    expect(message.source).toStrictEqual({ kind: 'upload', key: `uploads/${JOB_ID}` });
    expect(message.attempt).toBe(3);
  });

  it('accepts a URL source', () => {
    const message = parseImageJobMessage({ ...valid(), source: { kind: 'url', url: 'https://example.com/a.jpg' } });
    expect(message.source).toStrictEqual({ kind: 'url', url: 'https://example.com/a.jpg' });
    expect(problemsOf(() => parseImageJobMessage({ ...valid(), source: { kind: 'url', path: 'a.jpg' } }))).toEqual(['message.source.url is required for kind url']);
  });

  it('keeps only the reference that matches the kind', () => {
    const message = parseImageJobMessage({ ...valid(), source: { kind: 'upload', key: 'uploads/a', path: 'ignored.jpg' } });
    expect(message.source).toStrictEqual({ kind: 'upload', key: 'uploads/a' });
  });

  it('defaults a missing output to empty options', () => {
    const { output: _omitted, ...rest } = valid();
    expect(parseImageJobMessage(rest).output).toEqual({});
  });

  describe('poison messages throw ValidationFailed', () => {
    it.each([
      ['a string', 'hello'],
      ['null', null],
      ['an array', [valid()]],
    ])('a message that is %s', (_label, raw) => {
      expect(problemsOf(() => parseImageJobMessage(raw))).toEqual(['message must be an object']);
    });

    it('a missing jobId', () => {
      const { jobId: _omitted, ...rest } = valid();
      expect(problemsOf(() => parseImageJobMessage(rest))).toEqual(['message.jobId must be a UUID']);
    });

    it.each(['not-a-uuid', '3b241101e2bb42558caf4136c566a962x', ''])('a jobId that is not a UUID: %j', (jobId) => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), jobId }))).toEqual(['message.jobId must be a UUID']);
    });

    it.each([
      [0, ['message.attempt must not be less than 1']],
      [1.5, ['message.attempt must be an integer number']],
      ['1', ['message.attempt must be an integer number']],
    ])('an attempt of %j', (attempt, problems) => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), attempt }))).toEqual(expect.arrayContaining(problems as string[]));
    });

    it('an unknown source kind', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), source: { kind: 'ftp', path: 'x' } }))).toEqual([
        'message.source.kind must be one of the following values: images, upload, url',
      ]);
    });

    it('a missing path for kind images', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), source: { kind: 'images' } }))).toEqual(['message.source.path is required for kind images']);
    });

    it('a missing key for kind upload, even with a path', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), source: { kind: 'upload', path: 'cat.jpg' } }))).toEqual([
        'message.source.key is required for kind upload',
      ]);
    });

    it('an empty path', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), source: { kind: 'images', path: '' } }))).toContain('message.source.path should not be empty');
    });

    it('an unknown field inside source', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), source: { kind: 'images', path: 'a.jpg', bucket: 'b' } }))).toEqual([
        'message.source.bucket is not a known field',
      ]);
    });

    it('a source that is not an object', () => {
      const problems = problemsOf(() => parseImageJobMessage({ ...valid(), source: 'photos/cat.jpg' }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^message\.source/);
    });

    it('a null source', () => {
      const problems = problemsOf(() => parseImageJobMessage({ ...valid(), source: null }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^message\.source/);
    });

    it('a source that is an array', () => {
      expect(() => parseImageJobMessage({ ...valid(), source: [{ kind: 'images', path: 'a.jpg' }] })).toThrow(ValidationFailed);
    });

    it('a missing source', () => {
      const { source: _omitted, ...rest } = valid();
      expect(problemsOf(() => parseImageJobMessage(rest))).toEqual([expect.stringMatching(/^message\.source/)]);
    });

    it('an invalid submittedAt', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), submittedAt: 'yesterday' }))).toEqual([
        'message.submittedAt must be a valid ISO 8601 date string',
      ]);
    });

    it('missing operations', () => {
      const { operations: _omitted, ...rest } = valid();
      expect(problemsOf(() => parseImageJobMessage(rest))).toEqual(['message.operations is required (a JSON array of operations)']);
    });

    it('bad operations and output, located under message.', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), operations: [{ op: 'resize' }], output: { format: 'bmp' } }))).toEqual([
        'message.operations[0].width: resize needs width and/or height',
        'message.output.format must be one of the following values: jpeg, png, webp, avif, tiff, gif',
      ]);
    });

    it('an unknown top-level field', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), priority: 9 }))).toEqual(['message.priority is not a known field']);
    });

    it('reports a missing path and bad operations together', () => {
      expect(problemsOf(() => parseImageJobMessage({ ...valid(), source: { kind: 'images' }, operations: 'flip' }))).toEqual([
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
  const output = { key: `outputs/${JOB_ID}`, format: 'png', width: 10, height: 20, sizeBytes: 300 };
  const error = { code: 'INVALID_IMAGE', message: 'bad bytes' };

  it('returns a started event as a plain object', () => {
    const event = parseJobEventMessage(base());
    expect(event).toEqual(base());
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
  });

  it('returns a succeeded event with its outputs', () => {
    const outputs = [{ name: 'thumb', ...output }];
    const event = parseJobEventMessage({ ...base(), eventId: `${JOB_ID}/1/outcome`, type: 'succeeded', outputs });
    expect(event.type).toBe('succeeded');
    expect(event.outputs).toEqual(outputs);
  });

  it('reads the single output of an event from an older worker as the default output', () => {
    const event = parseJobEventMessage({ ...base(), eventId: `${JOB_ID}/1/outcome`, type: 'succeeded', output });
    expect(event.outputs).toEqual([{ name: 'default', ...output }]);
    expect(event).not.toHaveProperty('output');
  });

  it('refuses a succeeded event without outputs', () => {
    expect(() => parseJobEventMessage({ ...base(), eventId: `${JOB_ID}/1/outcome`, type: 'succeeded', outputs: [] })).toThrow('message.outputs is required for a succeeded event');
  });

  it('returns a failed event with its error', () => {
    const event = parseJobEventMessage({ ...base(), type: 'failed', error });
    expect(event.error).toEqual(error);
  });

  it('requires outputs for a succeeded event', () => {
    expect(problemsOf(() => parseJobEventMessage({ ...base(), type: 'succeeded' }))).toEqual(['message.outputs is required for a succeeded event']);
  });

  it('requires error for a failed event', () => {
    expect(problemsOf(() => parseJobEventMessage({ ...base(), type: 'failed' }))).toEqual(['message.error is required for a failed event']);
  });

  it.each([
    ['type', { type: 'queued' }, 'message.type must be one of the following values: started, retrying, succeeded, failed'],
    ['jobId', { jobId: 'abc' }, 'message.jobId must be a UUID'],
    ['delivery', { delivery: 0 }, 'message.delivery must not be less than 1'],
    ['attempt', { attempt: 0 }, 'message.attempt must not be less than 1'],
    ['workerId', { workerId: '' }, 'message.workerId should not be empty'],
    ['eventId', { eventId: '' }, 'message.eventId should not be empty'],
    ['at', { at: 'noon' }, 'message.at must be a valid ISO 8601 date string'],
    ['error', { type: 'failed', error: 'boom' }, 'message.error must be an object'],
    ['output', { type: 'succeeded', output: [output] }, 'message.output must be an object'],
    ['an unknown field', { retry: true }, 'message.retry is not a known field'],
  ])('rejects a bad %s', (_label, change, problem) => {
    expect(problemsOf(() => parseJobEventMessage({ ...base(), ...change }))).toEqual([problem]);
  });

  it('rejects a message that is not an object', () => {
    expect(problemsOf(() => parseJobEventMessage('started'))).toEqual(['message must be an object']);
  });
});
