import { parseJobSpec, parseJsonJobRequest } from './jobs';
import { OPERATION_NAMES } from './operations';
import { problemsOf } from '../../../test/support/validation';

const KNOWN = `(one of: ${OPERATION_NAMES.join(', ')})`;

describe('parseJobSpec', () => {
  it('returns operations and output options', () => {
    const spec = parseJobSpec(
      [{ op: 'resize', width: 200 }, { op: 'grayscale' }],
      { format: 'png', quality: 90 },
    );
    expect(spec).toEqual({
      operations: [{ op: 'resize', width: 200 }, { op: 'grayscale' }],
      output: { format: 'png', quality: 90 },
    });
  });

  it('defaults a missing output to empty options', () => {
    expect(parseJobSpec([{ op: 'flip' }], undefined)).toEqual({
      operations: [{ op: 'flip' }],
      output: {},
    });
  });

  it('requires operations', () => {
    expect(problemsOf(() => parseJobSpec(undefined, undefined))).toEqual([
      'operations is required (a JSON array of operations)',
    ]);
  });

  it('reports problems with operations and output together', () => {
    expect(
      problemsOf(() => parseJobSpec([{ op: 'nope' }], { format: 'bmp' })),
    ).toEqual([
      `operations[0].op "nope" is not a known operation ${KNOWN}`,
      'output.format must be one of the following values: jpeg, png, webp, avif, tiff, gif',
    ]);
  });

  it('reports a missing operations list together with a bad output', () => {
    expect(problemsOf(() => parseJobSpec(undefined, 'png'))).toEqual([
      'operations is required (a JSON array of operations)',
      'output must be an object',
    ]);
  });

  it('rejects operations given as a non-array', () => {
    expect(problemsOf(() => parseJobSpec({ op: 'flip' }, {}))).toEqual([
      'operations must be an array of operations',
    ]);
  });
});

describe('parseJsonJobRequest', () => {
  const valid = {
    source: { path: 'photos/cat.jpg' },
    operations: [
      { op: 'crop', left: 0, top: 0, width: 100, height: 100 },
      { op: 'blur', sigma: 2 },
    ],
    output: { format: 'webp' },
  };

  it('round-trips a valid request to plain objects', () => {
    const request = parseJsonJobRequest(valid);
    expect(request).toEqual(valid);
    expect(Object.getPrototypeOf(request.source)).toBe(Object.prototype);
    expect(Object.keys(request.source)).toEqual(['path']);
    request.operations.forEach((operation) =>
      expect(Object.getPrototypeOf(operation)).toBe(Object.prototype),
    );
    expect(Object.getPrototypeOf(request.output)).toBe(Object.prototype);
  });

  it('defaults a missing output to empty options', () => {
    const { output: _omitted, ...withoutOutput } = valid;
    expect(parseJsonJobRequest(withoutOutput).output).toEqual({});
  });

  it.each([
    ['null', null],
    ['an array', [valid]],
    ['a string', JSON.stringify(valid)],
    ['undefined', undefined],
  ])('rejects a body that is %s', (_label, body) => {
    expect(problemsOf(() => parseJsonJobRequest(body))).toEqual([
      'body must be a JSON object with source, operations and output',
    ]);
  });

  it('rejects unknown top-level fields, naming each', () => {
    expect(
      problemsOf(() =>
        parseJsonJobRequest({ ...valid, priority: 1, callback: 'x' }),
      ),
    ).toEqual([
      'priority is not a known field',
      'callback is not a known field',
    ]);
  });

  it('requires a source', () => {
    const { source: _omitted, ...withoutSource } = valid;
    expect(problemsOf(() => parseJsonJobRequest(withoutSource))).toEqual([
      'source is required: source.path (a file in the images folder) or source.url (an http or https URL)',
    ]);
  });

  it('requires operations', () => {
    const { operations: _omitted, ...withoutOperations } = valid;
    expect(problemsOf(() => parseJsonJobRequest(withoutOperations))).toEqual([
      'operations is required (a JSON array of operations)',
    ]);
  });

  it.each([
    ['a string', 'cat.jpg', 'source must be an object'],
    ['an empty path', { path: '' }, 'source.path should not be empty'],
    [
      'a path over 1024 characters',
      { path: 'a'.repeat(1025) },
      'source.path must be shorter than or equal to 1024 characters',
    ],
    [
      'an extra field',
      { path: 'a.jpg', kind: 'upload' },
      'source.kind is not a known field',
    ],
  ])('rejects a source that is %s', (_label, source, problem) => {
    expect(problemsOf(() => parseJsonJobRequest({ ...valid, source }))).toEqual(
      [problem],
    );
  });

  it('rejects a path that is not a string', () => {
    expect(
      problemsOf(() => parseJsonJobRequest({ ...valid, source: { path: 5 } })),
    ).toContain('source.path must be a string');
  });

  it('accepts a path of exactly 1024 characters', () => {
    const path = 'a'.repeat(1024);
    expect(parseJsonJobRequest({ ...valid, source: { path } }).source).toEqual({
      path,
    });
  });

  it('takes a URL as the source instead of a path, never both or neither', () => {
    expect(
      parseJsonJobRequest({
        ...valid,
        source: { url: 'https://images.example.com/a.jpg' },
      }).source,
    ).toEqual({ url: 'https://images.example.com/a.jpg' });
    const exactlyOne =
      'source must have exactly one of source.path (a file in the images folder) or source.url (an http or https URL)';
    expect(
      problemsOf(() =>
        parseJsonJobRequest({
          ...valid,
          source: { path: 'a.jpg', url: 'https://example.com/a.jpg' },
        }),
      ),
    ).toEqual([exactlyOne]);
    expect(
      problemsOf(() => parseJsonJobRequest({ ...valid, source: {} })),
    ).toEqual([exactlyOne]);
    expect(
      problemsOf(() =>
        parseJsonJobRequest({ ...valid, source: { url: 'x'.repeat(2049) } }),
      ),
    ).toEqual(['source.url must be shorter than or equal to 2048 characters']);
  });

  it('collects problems from every part of the body at once', () => {
    const problems = problemsOf(() =>
      parseJsonJobRequest({
        source: { path: '' },
        operations: [{ op: 'resize' }],
        output: { quality: 0 },
        extra: 1,
      }),
    );
    expect(problems).toEqual([
      'extra is not a known field',
      'source.path should not be empty',
      'operations[0].width: resize needs width and/or height',
      'output.quality must not be less than 1',
    ]);
  });
});
