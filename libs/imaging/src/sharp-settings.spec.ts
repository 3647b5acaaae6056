import sharp from 'sharp';
import {
  configureSharp,
  imageDimensions,
  WORKER_SHARP_SETTINGS,
} from './sharp-settings';

describe('configureSharp', () => {
  const concurrency = sharp.concurrency();
  const cache = sharp.cache();
  afterEach(() => {
    sharp.concurrency(concurrency);
    sharp.cache({
      memory: cache.memory.max,
      files: cache.files.max,
      items: cache.items.max,
    });
  });

  it("gives a worker's libvips no operation cache and one thread per image", () => {
    expect(WORKER_SHARP_SETTINGS).toEqual({
      cacheMemoryMb: 0,
      threadsPerImage: 1,
    });
    configureSharp();
    expect(sharp.concurrency()).toBe(1);
    const { memory, files, items } = sharp.cache();
    expect([memory.max, files.max, items.max]).toEqual([0, 0, 0]);
  });

  it('applies other settings as given', () => {
    configureSharp({ cacheMemoryMb: 20, threadsPerImage: 2 });
    expect(sharp.concurrency()).toBe(2);
    expect(sharp.cache().memory.max).toBe(20);
    expect(sharp.cache().files.max).toBe(0);
  });

  it.each([
    [
      { cacheMemoryMb: -1, threadsPerImage: 1 },
      'cacheMemoryMb must be a whole number of MiB, 0 or more (got -1)',
    ],
    [
      { cacheMemoryMb: 0, threadsPerImage: 0 },
      'threadsPerImage must be a whole number, 1 or more (got 0)',
    ],
    [
      { cacheMemoryMb: 0, threadsPerImage: 1.5 },
      'threadsPerImage must be a whole number, 1 or more (got 1.5)',
    ],
  ])('refuses %p, naming the setting', (settings, message) => {
    expect(() => configureSharp(settings)).toThrow(message);
  });
});

describe('imageDimensions', () => {
  it("reads an encoded image's width and height", async () => {
    const png = await sharp({
      create: { width: 7, height: 3, channels: 3, background: '#000000' },
    })
      .png()
      .toBuffer();
    await expect(imageDimensions(png)).resolves.toEqual({
      width: 7,
      height: 3,
    });
  });
});
