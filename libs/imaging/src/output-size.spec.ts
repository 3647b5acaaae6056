import { Operation, RESIZE_FITS } from '@pipeline/contracts';
import sharp from 'sharp';
import { readImageHeader, uprightSize } from './image-header';
import {
  checkOutputSize,
  OutputTooLargeError,
  resizeDependsOnAspectRatio,
  sizesAfterOperations,
} from './output-size';
import { processImage } from './process-image';

const limits = { maxInputPixels: 50_000_000 };

const png = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
// A JPEG far larger than its result lets libjpeg shrink on load, which sharp
// then corrects to the size asked.
const jpeg = (width: number, height: number, orientation?: number) => {
  const image = sharp({
    create: { width, height, channels: 3, background: '#808080' },
  }).jpeg();
  return (orientation ? image.withMetadata({ orientation }) : image).toBuffer();
};

/**
 * The size sharp gives `operations` (run as the worker runs them), and the one
 * predicted from the header.
 */
async function compare(input: Buffer, operations: Operation[]) {
  const header = await readImageHeader(input);
  const sizes = sizesAfterOperations(
    { ...uprightSize(header), exact: true },
    operations,
  );
  const result = await processImage(
    input,
    operations,
    { format: 'png', effort: 1 },
    limits,
  );
  return {
    actual: { width: result.width, height: result.height },
    predicted: sizes[sizes.length - 1],
  };
}

const resizes: Operation[] = [];
for (const fit of [undefined, ...RESIZE_FITS]) {
  for (const withoutEnlargement of [undefined, true]) {
    for (const [width, height] of [
      [1, undefined],
      [57, undefined],
      [500, undefined],
      [undefined, 7],
      [undefined, 333],
      [50, 50],
      [7, 400],
      [400, 9],
      [999, 600],
      [1, 1],
    ] as const) {
      resizes.push({
        op: 'resize',
        ...(width && { width }),
        ...(height && { height }),
        ...(fit && { fit }),
        ...(withoutEnlargement && { withoutEnlargement }),
      });
    }
  }
}
const angles = [
  15, 30, 45, 77, 90, -90, 180, 270, -270, 359.5, 0.3, 123.4, -200, 360, 1,
  89.9,
];
const others: Operation[] = [
  { op: 'crop', left: 3, top: 2, width: 20, height: 11 },
  { op: 'extend', top: 3, left: 50 },
  { op: 'extend', top: 1, bottom: 2, left: 3, right: 4 },
  ...angles.map((angle): Operation => ({ op: 'rotate', angle })),
  { op: 'flip' },
  { op: 'flop' },
  { op: 'blur', sigma: 1 },
  { op: 'grayscale' },
  { op: 'watermark', text: 'x', size: 6 },
];

describe('output size: predicted from the header, as sharp makes it', () => {
  // libjpeg shrinks a JPEG on load by 2, 4 or 8, rounding on its own, and sharp
  // resizes the rest of the way: a side the resize derives from the aspect
  // ratio may then be a pixel off (never more). It only happens when shrinking
  // by 2 or more, so such an image is never near a limit its input kept.
  const inputs: Array<[string, () => Promise<Buffer>, number]> = [
    ['a wide PNG', () => png(333, 101), 0],
    ['a tall PNG', () => png(101, 333), 0],
    ['a square PNG', () => png(64, 64), 0],
    ['a large JPEG (shrunk on load)', () => jpeg(2400, 1601), 1],
    ['a JPEG turned by its EXIF orientation', () => jpeg(120, 45, 6), 1],
  ];

  describe.each(inputs)('%s', (_name, make, tolerance) => {
    let input: Buffer;
    beforeAll(async () => {
      input = await make();
    });

    it.each(
      [...resizes, ...others].map((operation) => [
        JSON.stringify(operation),
        operation,
      ]),
    )('%s', async (_label, operation) => {
      const { actual, predicted } = await compare(input, [operation]);
      expect(predicted?.exact).toBe(true);
      if (tolerance === 0)
        return expect(predicted).toEqual({ ...actual, exact: true });
      expect(Math.abs(predicted!.width - actual.width)).toBeLessThanOrEqual(
        tolerance,
      );
      expect(Math.abs(predicted!.height - actual.height)).toBeLessThanOrEqual(
        tolerance,
      );
    });
  });

  it.each<[string, Operation[]]>([
    [
      'resize, extend, flip (three stages)',
      [
        { op: 'resize', width: 120, height: 40, fit: 'fill' },
        { op: 'extend', top: 5, bottom: 6, left: 7, right: 8 },
        { op: 'flip' },
      ],
    ],
    [
      'rotate, resize, crop',
      [
        { op: 'rotate', angle: 33 },
        { op: 'resize', width: 90 },
        { op: 'crop', left: 1, top: 1, width: 30, height: 20 },
      ],
    ],
    [
      'resize after a blur (a stage of its own)',
      [
        { op: 'blur', sigma: 1 },
        { op: 'resize', height: 77, fit: 'inside' },
        { op: 'rotate', angle: 12 },
      ],
    ],
    [
      'extend then resize then rotate',
      [
        { op: 'extend', right: 100 },
        { op: 'resize', width: 150, height: 150, fit: 'contain' },
        { op: 'rotate', angle: 270 },
        { op: 'resize', width: 31 },
      ],
    ],
    [
      'crop then resize then extend',
      [
        { op: 'crop', left: 0, top: 0, width: 50, height: 20 },
        { op: 'resize', width: 123, withoutEnlargement: true },
        { op: 'extend', top: 1 },
      ],
    ],
    [
      'resize outside, then cover',
      [
        { op: 'resize', width: 40, height: 90, fit: 'outside' },
        { op: 'resize', width: 77, height: 13 },
      ],
    ],
  ])('a chain: %s', async (_name, operations) => {
    const { actual, predicted } = await compare(
      await png(333, 101),
      operations,
    );
    expect(predicted).toEqual({ ...actual, exact: true });
  });

  describe('after a trim, what it leaves is unknown', () => {
    let framed: Buffer;
    beforeAll(async () => {
      // A 30x10 red block on a 200x100 white canvas: the trim keeps 30x10.
      framed = await sharp({
        create: { width: 200, height: 100, channels: 3, background: '#ffffff' },
      })
        .composite([
          {
            input: {
              create: {
                width: 30,
                height: 10,
                channels: 3,
                background: '#ff0000',
              },
            },
            left: 50,
            top: 40,
          },
        ])
        .png()
        .toBuffer();
    });

    it.each<[string, Operation[], object | undefined]>([
      [
        'a trim: at most the size before it',
        [{ op: 'trim' }],
        { width: 200, height: 100, exact: false },
      ],
      [
        'a trim and an extend',
        [{ op: 'trim' }, { op: 'extend', left: 5 }],
        { width: 205, height: 100, exact: false },
      ],
      [
        'a trim and a crop: the crop',
        [{ op: 'trim' }, { op: 'crop', left: 0, top: 0, width: 20, height: 5 }],
        { width: 20, height: 5, exact: true },
      ],
      [
        'a trim and a box resize',
        [{ op: 'trim' }, { op: 'resize', width: 60, height: 60 }],
        { width: 60, height: 60, exact: true },
      ],
      [
        'a trim and a contain resize',
        [
          { op: 'trim' },
          { op: 'resize', width: 60, height: 50, fit: 'contain' },
        ],
        { width: 60, height: 50, exact: true },
      ],
      [
        'a trim and an inside resize',
        [
          { op: 'trim' },
          { op: 'resize', width: 60, height: 60, fit: 'inside' },
        ],
        { width: 60, height: 60, exact: false },
      ],
      [
        'a trim and a resize kept from enlarging',
        [
          { op: 'trim' },
          { op: 'resize', width: 600, withoutEnlargement: true },
        ],
        { width: 200, height: 100, exact: false },
      ],
      [
        'a trim and a fill of one side',
        [{ op: 'trim' }, { op: 'resize', width: 600, fit: 'fill' }],
        { width: 600, height: 100, exact: false },
      ],
      [
        'a trim and a rotation',
        [{ op: 'trim' }, { op: 'rotate', angle: 30 }],
        { width: 223, height: 187, exact: false },
      ],
      [
        'a trim and a resize by width: unknown',
        [{ op: 'trim' }, { op: 'resize', width: 600 }],
        undefined,
      ],
      [
        'a trim and an outside resize: unknown',
        [
          { op: 'trim' },
          { op: 'resize', width: 60, height: 60, fit: 'outside' },
        ],
        undefined,
      ],
      [
        'unknown, then a crop',
        [
          { op: 'trim' },
          { op: 'resize', width: 600 },
          { op: 'extend', top: 1 },
          { op: 'crop', left: 0, top: 0, width: 7, height: 8 },
        ],
        { width: 7, height: 8, exact: true },
      ],
    ])('%s', async (_name, operations, expected) => {
      const { actual, predicted } = await compare(framed, operations);
      expect(predicted).toEqual(expected);
      if (predicted) {
        expect(actual.width).toBeLessThanOrEqual(predicted.width);
        expect(actual.height).toBeLessThanOrEqual(predicted.height);
      }
      if (predicted?.exact)
        expect(actual).toEqual({
          width: predicted.width,
          height: predicted.height,
        });
    });
  });

  it('names the resizes whose size depends on what they are given', () => {
    expect(resizeDependsOnAspectRatio({ op: 'resize', width: 10 })).toBe(true);
    expect(
      resizeDependsOnAspectRatio({ op: 'resize', height: 10, fit: 'contain' }),
    ).toBe(true);
    expect(
      resizeDependsOnAspectRatio({
        op: 'resize',
        width: 10,
        height: 10,
        fit: 'outside',
      }),
    ).toBe(true);
    expect(
      resizeDependsOnAspectRatio({ op: 'resize', width: 10, fit: 'fill' }),
    ).toBe(false);
    expect(
      resizeDependsOnAspectRatio({ op: 'resize', width: 10, height: 10 }),
    ).toBe(false);
    expect(
      resizeDependsOnAspectRatio({
        op: 'resize',
        width: 10,
        withoutEnlargement: true,
      }),
    ).toBe(false);
  });
});

describe('checkOutputSize', () => {
  const start = { width: 1, height: 1, exact: true };
  const bomb: Operation[] = [
    { op: 'resize', width: 16384, height: 16384, fit: 'fill' },
    { op: 'extend', top: 16384, bottom: 16384, left: 16384, right: 16384 },
    { op: 'flip' },
  ];

  it('refuses the first operation that makes an image over the limit, naming it, its size and the limit', () => {
    expect(() =>
      checkOutputSize(
        start,
        [{ path: 'operations', operations: bomb }],
        50_000_000,
      ),
    ).toThrow(
      new OutputTooLargeError(
        'operations[0]',
        'resize',
        { width: 16384, height: 16384 },
        50_000_000,
      ),
    );
    expect(() =>
      checkOutputSize(
        start,
        [{ path: 'operations', operations: bomb }],
        50_000_000,
      ),
    ).toThrow(
      'operations[0] (resize) would make a 16384×16384 image (268435456 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
    );
  });

  it('judges intermediate sizes, not only the last', () => {
    const shrunkAgain: Operation[] = [
      { op: 'resize', width: 8000, height: 8000 },
      { op: 'resize', width: 10, height: 10 },
    ];
    expect(() =>
      checkOutputSize(
        { width: 100, height: 100, exact: true },
        [{ path: 'operations', operations: shrunkAgain }],
        50_000_000,
      ),
    ).toThrow(/^operations\[0\] \(resize\) would make a 8000×8000 image/);
  });

  it('accepts exactly the limit', () => {
    expect(() =>
      checkOutputSize(
        start,
        [
          {
            path: 'operations',
            operations: [{ op: 'resize', width: 100, height: 50, fit: 'fill' }],
          },
        ],
        5000,
      ),
    ).not.toThrow();
    expect(() =>
      checkOutputSize(
        start,
        [
          {
            path: 'operations',
            operations: [{ op: 'resize', width: 100, height: 50, fit: 'fill' }],
          },
        ],
        4999,
      ),
    ).toThrow(OutputTooLargeError);
  });

  it('runs each variant from the end of the shared operations, naming it by its path', () => {
    const lists = [
      {
        path: 'operations',
        operations: [
          { op: 'resize', width: 1000, height: 1000, fit: 'fill' } as Operation,
        ],
      },
      {
        path: 'outputs[0].operations',
        operations: [{ op: 'flip' } as Operation],
      },
      {
        path: 'outputs[1].operations',
        operations: [
          { op: 'blur', sigma: 1 } as Operation,
          { op: 'extend', top: 4000 } as Operation,
        ],
      },
    ];
    expect(() => checkOutputSize(start, lists, 4_000_000)).toThrow(
      'outputs[1].operations[1] (extend) would make a 1000×5000 image (5000000 pixels); the limit is 4000000 (MAX_OUTPUT_PIXELS)',
    );
    expect(() => checkOutputSize(start, lists, 5_000_000)).not.toThrow();
  });

  it('leaves sizes a trim made unknown to be judged once the trim has run', () => {
    const afterTrim: Operation[] = [
      { op: 'trim' },
      { op: 'resize', width: 16384 },
    ];
    expect(() =>
      checkOutputSize(
        { width: 100, height: 100, exact: true },
        [{ path: 'operations', operations: afterTrim }],
        50_000_000,
      ),
    ).not.toThrow();
    // What a trim keeps is no larger than what it had: padding after it is
    // judged all the same.
    expect(() =>
      checkOutputSize(
        { width: 5000, height: 5000, exact: true },
        [
          {
            path: 'operations',
            operations: [{ op: 'trim' }, { op: 'extend', right: 5001 }],
          },
        ],
        50_000_000,
      ),
    ).toThrow(/^operations\[1\] \(extend\) would make a 10001×5000 image/);
  });
});
