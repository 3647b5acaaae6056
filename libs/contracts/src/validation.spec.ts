import { MAX_DIMENSION, MAX_OPERATIONS, OPERATION_NAMES } from './operations';
import {
  canonicalJson,
  collectProblems,
  parseJsonText,
  parseOperations,
  parseOutputOptions,
  ValidationFailed,
} from './validation';
import { problemsOf } from '../../../test/support/validation';

const KNOWN = `(one of: ${OPERATION_NAMES.join(', ')})`;

describe('ValidationFailed', () => {
  it('keeps the problems and joins them into the message', () => {
    const error = new ValidationFailed(['a is wrong', 'b is wrong']);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ValidationFailed');
    expect(error.problems).toEqual(['a is wrong', 'b is wrong']);
    expect(error.message).toBe('a is wrong; b is wrong');
  });
});

describe('collectProblems', () => {
  it('returns the parsed value when the parse succeeds', () => {
    const problems: string[] = [];
    expect(collectProblems(problems, () => 42)).toBe(42);
    expect(problems).toEqual([]);
  });

  it('adds the problems of a ValidationFailed and returns undefined', () => {
    const problems = ['earlier'];
    const result = collectProblems(problems, () => {
      throw new ValidationFailed(['x is bad', 'y is bad']);
    });
    expect(result).toBeUndefined();
    expect(problems).toEqual(['earlier', 'x is bad', 'y is bad']);
  });

  it('lets other errors through', () => {
    const problems: string[] = [];
    expect(() =>
      collectProblems(problems, () => {
        throw new TypeError('boom');
      }),
    ).toThrow(TypeError);
    expect(problems).toEqual([]);
  });
});

describe('parseOperations', () => {
  describe('valid input', () => {
    it('returns every kind of operation, in order, as plain objects', () => {
      const raw = [
        { op: 'crop', left: 0, top: 5, width: 10, height: 20 },
        { op: 'resize', width: 100, fit: 'inside' },
        { op: 'resize', height: 50 },
        { op: 'rotate', angle: -90 },
        { op: 'rotate', angle: 45.5, background: '#ffffff' },
        { op: 'flip' },
        { op: 'flop' },
        { op: 'blur', sigma: 0.3 },
        { op: 'sharpen' },
        { op: 'sharpen', sigma: 2 },
        { op: 'grayscale' },
        { op: 'brightness', factor: 0 },
      ];
      const operations = parseOperations(raw);
      expect(operations).toHaveLength(raw.length);
      operations.forEach((operation, index) => {
        // Same content (undefined optional fields aside) ...
        expect(operation).toEqual(raw[index]);
        // ... and plain objects, not class instances, so they serialise and
        // compare as data.
        expect(Object.getPrototypeOf(operation)).toBe(Object.prototype);
      });
      expect(JSON.parse(JSON.stringify(operations))).toEqual(raw);
    });

    it('accepts the boundaries of every range', () => {
      expect(() =>
        parseOperations([
          { op: 'resize', width: 1, height: MAX_DIMENSION },
          { op: 'crop', left: 0, top: 0, width: MAX_DIMENSION, height: 1 },
          { op: 'rotate', angle: -360 },
          { op: 'rotate', angle: 360 },
          { op: 'blur', sigma: 1000 },
          { op: 'sharpen', sigma: 10 },
          { op: 'brightness', factor: 10 },
        ]),
      ).not.toThrow();
    });

    it('accepts an empty array', () => {
      expect(parseOperations([])).toEqual([]);
    });

    it(`accepts exactly ${MAX_OPERATIONS} operations`, () => {
      const raw = Array.from({ length: MAX_OPERATIONS }, () => ({
        op: 'flip',
      }));
      expect(parseOperations(raw)).toHaveLength(MAX_OPERATIONS);
    });

    it('does not return the input objects themselves', () => {
      const raw = [{ op: 'blur', sigma: 2 }];
      const [operation] = parseOperations(raw);
      expect(operation).not.toBe(raw[0]);
    });
  });

  describe('the shape of the list', () => {
    it.each([
      ['an object', { op: 'flip' }],
      ['a string', '[{"op":"flip"}]'],
      ['null', null],
      ['undefined', undefined],
      ['a number', 3],
    ])('rejects %s', (_label, raw) => {
      expect(problemsOf(() => parseOperations(raw))).toEqual([
        'operations must be an array of operations',
      ]);
    });

    it('uses the path it is given', () => {
      expect(
        problemsOf(() => parseOperations('x', 'message.operations')),
      ).toEqual(['message.operations must be an array of operations']);
    });

    it(`rejects more than ${MAX_OPERATIONS} operations without looking at them`, () => {
      const raw = Array.from({ length: MAX_OPERATIONS + 1 }, () => ({
        op: 'nope',
      }));
      expect(problemsOf(() => parseOperations(raw))).toEqual([
        `operations must contain at most ${MAX_OPERATIONS} operations`,
      ]);
    });
  });

  describe('the operation name', () => {
    it('names the index and the unknown name, and lists the known ones', () => {
      expect(
        problemsOf(() => parseOperations([{ op: 'flip' }, { op: 'nope' }])),
      ).toEqual([`operations[1].op "nope" is not a known operation ${KNOWN}`]);
    });

    it.each([
      ['a missing op', {}, 'undefined'],
      ['a numeric op', { op: 7 }, '7'],
      ['a null item', null, 'undefined'],
      ['a number item', 5, 'undefined'],
      ['an array item', [{ op: 'flip' }], 'undefined'],
    ])('reports %s', (_label, item, shown) => {
      expect(problemsOf(() => parseOperations([item]))).toEqual([
        `operations[0].op ${shown} is not a known operation ${KNOWN}`,
      ]);
    });

    it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])(
      'does not take the inherited property %s for an operation',
      (name) => {
        expect(problemsOf(() => parseOperations([{ op: name }]))).toEqual([
          `operations[0].op "${name}" is not a known operation ${KNOWN}`,
        ]);
      },
    );

    it('is case-sensitive', () => {
      expect(
        problemsOf(() => parseOperations([{ op: 'Resize', width: 10 }])),
      ).toEqual([
        `operations[0].op "Resize" is not a known operation ${KNOWN}`,
      ]);
    });
  });

  describe('resize', () => {
    it('with neither width nor height gives exactly one problem, asking for width and/or height', () => {
      const problems = problemsOf(() => parseOperations([{ op: 'resize' }]));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toBe(
        'operations[0].width: resize needs width and/or height',
      );
    });

    it('accepts height alone', () => {
      expect(parseOperations([{ op: 'resize', height: 10 }])).toEqual([
        { op: 'resize', height: 10 },
      ]);
    });

    it.each([
      ['zero', 0],
      ['negative', -5],
      ['fractional', 10.5],
      ['too large', MAX_DIMENSION + 1],
      ['a numeric string', '100'],
      ['null', null],
    ])('rejects a width that is %s', (_label, width) => {
      expect(
        problemsOf(() => parseOperations([{ op: 'resize', width }])),
      ).toEqual([
        `operations[0].width must be an integer from 1 to ${MAX_DIMENSION}`,
      ]);
    });

    it('rejects a bad height even when the width is good', () => {
      expect(
        problemsOf(() =>
          parseOperations([{ op: 'resize', width: 10, height: 0 }]),
        ),
      ).toEqual([
        `operations[0].height must be an integer from 1 to ${MAX_DIMENSION}`,
      ]);
    });

    it('rejects an unknown fit', () => {
      const problems = problemsOf(() =>
        parseOperations([{ op: 'resize', width: 10, fit: 'stretch' }]),
      );
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(
        /^operations\[0\]\.fit must be one of the following values: cover, contain, fill, inside, outside$/,
      );
    });
  });

  describe('crop', () => {
    it('names each bad or missing field', () => {
      const problems = problemsOf(() =>
        parseOperations([{ op: 'crop', left: -1, top: 0, width: 10 }]),
      );
      expect(problems).toEqual([
        'operations[0].left must not be less than 0',
        `operations[0].height must be an integer from 1 to ${MAX_DIMENSION}`,
      ]);
    });

    it('rejects a fractional offset', () => {
      const problems = problemsOf(() =>
        parseOperations([
          { op: 'crop', left: 0, top: 1.5, width: 10, height: 10 },
        ]),
      );
      expect(problems).toEqual(['operations[0].top must be an integer number']);
    });
  });

  describe('blur sigma', () => {
    it('rejects a sigma below 0.3', () => {
      expect(
        problemsOf(() => parseOperations([{ op: 'blur', sigma: 0.29 }])),
      ).toEqual(['operations[0].sigma must not be less than 0.3']);
    });

    it('rejects a sigma above 1000', () => {
      expect(
        problemsOf(() => parseOperations([{ op: 'blur', sigma: 1000.5 }])),
      ).toEqual(['operations[0].sigma must not be greater than 1000']);
    });

    it.each([
      ['missing', undefined],
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['a string', '2'],
    ])('rejects a sigma that is %s', (_label, sigma) => {
      const problems = problemsOf(() =>
        parseOperations([{ op: 'blur', sigma }]),
      );
      expect(problems.length).toBeGreaterThan(0);
      expect(
        problems.every((problem) => problem.startsWith('operations[0].sigma ')),
      ).toBe(true);
      expect(problems).toContain(
        'operations[0].sigma must be a number conforming to the specified constraints',
      );
    });
  });

  describe('other ranges', () => {
    it.each([
      [
        { op: 'rotate', angle: 361 },
        'operations[0].angle must not be greater than 360',
      ],
      [
        { op: 'rotate', angle: -361 },
        'operations[0].angle must not be less than -360',
      ],
      [
        { op: 'rotate', angle: 90, background: 0 },
        'operations[0].background must be a hex colour such as #ffffff or #00000000',
      ],
      [
        { op: 'sharpen', sigma: 0 },
        'operations[0].sigma must not be less than 0.000001',
      ],
      [
        { op: 'sharpen', sigma: 10.1 },
        'operations[0].sigma must not be greater than 10',
      ],
      [
        { op: 'brightness', factor: -0.1 },
        'operations[0].factor must not be less than 0',
      ],
      [
        { op: 'brightness', factor: 11 },
        'operations[0].factor must not be greater than 10',
      ],
    ])('rejects %j', (operation, problem) => {
      expect(problemsOf(() => parseOperations([operation]))).toEqual([problem]);
    });
  });

  describe('unknown fields', () => {
    it('rejects an extra field, naming it', () => {
      expect(
        problemsOf(() => parseOperations([{ op: 'flip', angle: 90 }])),
      ).toEqual(['operations[0].angle is not a known field']);
    });

    it('rejects a field that belongs to another operation', () => {
      expect(
        problemsOf(() =>
          parseOperations([{ op: 'blur', sigma: 1, factor: 2 }]),
        ),
      ).toEqual(['operations[0].factor is not a known field']);
    });
  });

  it('collects the problems of every item, each under its own index', () => {
    const problems = problemsOf(() =>
      parseOperations([
        { op: 'flip' },
        { op: 'resize' },
        { op: 'nope' },
        { op: 'blur', sigma: 5000 },
        { op: 'grayscale', extra: true },
      ]),
    );
    expect(problems).toEqual([
      'operations[1].width: resize needs width and/or height',
      `operations[2].op "nope" is not a known operation ${KNOWN}`,
      'operations[3].sigma must not be greater than 1000',
      'operations[4].extra is not a known field',
    ]);
  });

  it('prefixes every problem with the path it is given', () => {
    expect(
      problemsOf(() =>
        parseOperations([{ op: 'resize' }, { op: 'x' }], 'message.operations'),
      ),
    ).toEqual([
      'message.operations[0].width: resize needs width and/or height',
      `message.operations[1].op "x" is not a known operation ${KNOWN}`,
    ]);
  });
});

describe('parseOutputOptions', () => {
  it.each([undefined, null])('gives empty options for %s', (raw) => {
    expect(parseOutputOptions(raw)).toEqual({});
  });

  it('returns the options as a plain object', () => {
    const output = parseOutputOptions({ format: 'webp', quality: 75 });
    expect(output).toEqual({ format: 'webp', quality: 75 });
    expect(Object.getPrototypeOf(output)).toBe(Object.prototype);
  });

  it.each(['jpeg', 'png', 'webp', 'avif'])(
    'accepts the format %s',
    (format) => {
      expect(parseOutputOptions({ format })).toEqual({ format });
    },
  );

  it.each([1, 100])('accepts quality %d', (quality) => {
    expect(parseOutputOptions({ quality })).toEqual({ quality });
  });

  it('names every bad field', () => {
    expect(
      problemsOf(() => parseOutputOptions({ format: 'bmp', quality: 0 })),
    ).toEqual([
      'output.format must be one of the following values: jpeg, png, webp, avif, tiff, gif',
      'output.quality must not be less than 1',
    ]);
  });

  it.each([
    [101, 'output.quality must not be greater than 100'],
    [50.5, 'output.quality must be an integer number'],
  ])('rejects quality %p', (quality, problem) => {
    expect(problemsOf(() => parseOutputOptions({ quality }))).toEqual([
      problem,
    ]);
  });

  it('rejects an unknown field', () => {
    expect(
      problemsOf(() => parseOutputOptions({ format: 'png', compression: 9 })),
    ).toEqual(['output.compression is not a known field']);
  });

  it.each([['png'], [[]], [42]])(
    'rejects %j, which is not an object',
    (raw) => {
      expect(problemsOf(() => parseOutputOptions(raw))).toEqual([
        'output must be an object',
      ]);
    },
  );

  it('uses the path it is given', () => {
    expect(
      problemsOf(() => parseOutputOptions({ format: 'bmp' }, 'message.output')),
    ).toEqual([
      'message.output.format must be one of the following values: jpeg, png, webp, avif, tiff, gif',
    ]);
  });
});

describe('parseJsonText', () => {
  it('parses valid JSON of any kind', () => {
    expect(parseJsonText('[{"op":"flip"}]', 'operations')).toEqual([
      { op: 'flip' },
    ]);
    expect(parseJsonText('{"format":"png"}', 'output')).toEqual({
      format: 'png',
    });
    expect(parseJsonText('null', 'output')).toBeNull();
    expect(parseJsonText(' 3 ', 'x')).toBe(3);
  });

  it.each(['{bad', '', '[1,]', "{'a':1}", 'undefined'])(
    'rejects %j, naming the field',
    (text) => {
      const problems = problemsOf(() => parseJsonText(text, 'operations'));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^operations is not valid JSON: .+/);
    },
  );

  it("includes the parser's explanation", () => {
    let parserMessage = '';
    try {
      JSON.parse('{bad');
    } catch (error) {
      parserMessage = (error as Error).message;
    }
    expect(problemsOf(() => parseJsonText('{bad', 'output'))).toEqual([
      `output is not valid JSON: ${parserMessage}`,
    ]);
  });
});

describe('canonicalJson', () => {
  it('gives equal text for equal values, whatever their key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } })).toBe(
      canonicalJson({ a: { c: 'x', d: [1, { x: 1, y: 2 }] }, b: 1 }),
    );
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
  });
});
