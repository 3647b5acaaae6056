import sharp from 'sharp';

/** A photo-like test image: a gradient with noise, so that encoders do real work. */
export async function makeImage(width: number, height: number, format: 'jpeg' | 'png' | 'webp' = 'jpeg'): Promise<Buffer> {
  const channels = 3;
  const pixels = Buffer.alloc(width * height * channels);
  let seed = width * 31 + height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const noise = seed % 32;
      const offset = (y * width + x) * channels;
      pixels[offset] = Math.min(255, Math.floor((x / width) * 200) + noise);
      pixels[offset + 1] = Math.min(255, Math.floor((y / height) * 200) + noise);
      pixels[offset + 2] = Math.min(255, 100 + noise);
    }
  }
  return sharp(pixels, { raw: { width, height, channels } }).toFormat(format).toBuffer();
}
