import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/**
 * A photo-like test image: a gradient with noise, so that encoders do real
 * work.
 */
export async function makeImage(
  width: number,
  height: number,
  format: 'jpeg' | 'png' | 'webp' = 'jpeg',
): Promise<Buffer> {
  const channels = 3;
  const pixels = Buffer.alloc(width * height * channels);
  let seed = width * 31 + height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const noise = seed % 32;
      const offset = (y * width + x) * channels;
      pixels[offset] = Math.min(255, Math.floor((x / width) * 200) + noise);
      pixels[offset + 1] = Math.min(
        255,
        Math.floor((y / height) * 200) + noise,
      );
      pixels[offset + 2] = Math.min(255, 100 + noise);
    }
  }
  return sharp(pixels, { raw: { width, height, channels } })
    .toFormat(format)
    .toBuffer();
}

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A few hundred bytes that declare a 30000×30000 picture: a decompression bomb.
 */
export function bombPng(): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(30_000, 0);
  header.writeUInt32BE(30_000, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.alloc(30_001 * 3))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
