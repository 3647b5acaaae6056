import sharp from 'sharp';
import { classifyProcessingError } from './classify-error';
import { Deadline } from './deadline';
import { OutputTooLargeError } from './output-size';

describe('classifyProcessingError', () => {
  it('treats an ordinary error such as ECONNRESET as transient INTERNAL, keeping its message', () => {
    expect(classifyProcessingError(new Error('ECONNRESET'))).toEqual({
      permanent: false,
      error: { code: 'INTERNAL', message: 'ECONNRESET' },
    });
  });

  it.each([
    ['a timeout', new Error('Timeout waiting for the disk')],
    ['an out-of-memory error', new Error('Cannot allocate memory')],
    [
      'a TypeError',
      new TypeError("Cannot read properties of undefined (reading 'x')"),
    ],
  ])('treats %s as transient INTERNAL', (_label, error) => {
    const classified = classifyProcessingError(error);
    expect(classified.permanent).toBe(false);
    expect(classified.error.code).toBe('INTERNAL');
  });

  it('accepts a thrown value that is not an Error', () => {
    expect(classifyProcessingError('socket hang up')).toEqual({
      permanent: false,
      error: { code: 'INTERNAL', message: 'socket hang up' },
    });
    expect(classifyProcessingError(undefined)).toEqual({
      permanent: false,
      error: { code: 'INTERNAL', message: 'undefined' },
    });
  });

  it('treats operations that would make too large an image as a permanent IMAGE_TOO_LARGE, naming the operation and the limit', () => {
    expect(
      classifyProcessingError(
        new OutputTooLargeError(
          'outputs[1].operations[0]',
          'extend',
          { width: 20000, height: 5000 },
          50_000_000,
        ),
      ),
    ).toEqual({
      permanent: true,
      error: {
        code: 'IMAGE_TOO_LARGE',
        message:
          'The operations would make too large an image: outputs[1].operations[0] (extend) would make a 20000×5000 image (100000000 pixels); the limit is 50000000 (MAX_OUTPUT_PIXELS)',
      },
    });
  });

  it('treats the pixel limit as a permanent IMAGE_TOO_LARGE', () => {
    expect(
      classifyProcessingError(new Error('Input image exceeds pixel limit')),
    ).toEqual({
      permanent: true,
      error: {
        code: 'IMAGE_TOO_LARGE',
        message:
          'The input image is too large: Input image exceeds pixel limit',
      },
    });
  });

  it.each([
    'extract_area: bad extract area',
    'Expected integer between 0 and 100000000 for left but received -1 of type number',
    'Invalid parameter: width',
  ])('treats %j as a permanent INVALID_OPERATION', (message) => {
    expect(classifyProcessingError(new Error(message))).toEqual({
      permanent: true,
      error: {
        code: 'INVALID_OPERATION',
        message: `An operation does not fit this image: ${message}`,
      },
    });
  });

  it('classifies what sharp really throws for a bad extract parameter', () => {
    let thrown: unknown;
    try {
      sharp({
        create: { width: 4, height: 4, channels: 3, background: '#000' },
      }).extract({ left: -1, top: 0, width: 1, height: 1 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(classifyProcessingError(thrown)).toMatchObject({
      permanent: true,
      error: { code: 'INVALID_OPERATION' },
    });
  });

  it.each([
    'Input buffer is missing',
    'VipsJpeg: premature end of JPEG image',
    'Input buffer has corrupt header: something',
    'VipsJpeg: Invalid SOS parameters for sequential JPEG',
    'VipsForeignLoad: "x" is not a known file format',
    'gifload: no frames in GIF',
    'tiff2vips: read error',
    'pngload: libpng read error',
  ])('treats %j as a permanent INVALID_IMAGE', (message) => {
    expect(classifyProcessingError(new Error(message))).toEqual({
      permanent: true,
      error: {
        code: 'INVALID_IMAGE',
        message: `The input could not be decoded as an image: ${message}`,
      },
    });
  });

  it('collapses the lines libvips repeats into one message', () => {
    const error = new Error(
      'Input buffer has corrupt header: VipsJpeg: premature end of JPEG image\n  VipsJpeg: JPEG datastream contains no image\nVipsJpeg: premature end of JPEG image\n\nVipsJpeg: JPEG datastream contains no image',
    );
    expect(classifyProcessingError(error).error.message).toBe(
      'The input could not be decoded as an image: Input buffer has corrupt header: VipsJpeg: premature end of JPEG image; VipsJpeg: JPEG datastream contains no image; VipsJpeg: premature end of JPEG image',
    );
  });

  it('collapses repeated lines of a transient error too', () => {
    expect(classifyProcessingError(new Error('EIO\nEIO\nEIO')).error).toEqual({
      code: 'INTERNAL',
      message: 'EIO',
    });
  });

  it('prefers IMAGE_TOO_LARGE when the message also mentions an invalid input', () => {
    expect(
      classifyProcessingError(
        new Error('Input image exceeds pixel limit\ninvalid'),
      ).error.code,
    ).toBe('IMAGE_TOO_LARGE');
  });

  it.each([
    'Input buffer contains unsupported image format',
    'Input file contains unsupported image format',
  ])(
    'treats "%s" (no loader, or a blocked one) as a permanent UNSUPPORTED_FORMAT',
    (message) => {
      expect(classifyProcessingError(new Error(message))).toMatchObject({
        permanent: true,
        error: { code: 'UNSUPPORTED_FORMAT' },
      });
    },
  );

  it('treats a libvips timeout as a permanent PROCESSING_TIMEOUT', () => {
    expect(
      classifyProcessingError(
        new Error(
          'timeout: 12% complete\nVipsImage: killed for image "temp-1"',
        ),
      ),
    ).toMatchObject({
      permanent: true,
      error: { code: 'PROCESSING_TIMEOUT' },
    });
  });

  it("treats the job's deadline passing as a permanent PROCESSING_TIMEOUT naming the limit and the step", () => {
    const error = Deadline.after(3000).timeoutError('downloading the source');
    expect(classifyProcessingError(error)).toEqual({
      permanent: true,
      error: {
        code: 'PROCESSING_TIMEOUT',
        message:
          "Processing took longer than the job's time limit of 3 s (stopped while downloading the source)",
      },
    });
  });
});
