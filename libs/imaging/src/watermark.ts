import { WatermarkOperation } from '@pipeline/contracts';
import sharp, { Sharp, SharpOptions } from 'sharp';
import { Deadline } from './deadline';
import { toBufferWithin } from './within-deadline';

/**
 * Finds a watermark image by its path in the images folder; the worker passes
 * the confined resolver.
 */
export type WatermarkImageResolver = (path: string) => Promise<string>;

/**
 * Text for Pango, which sharp's text input reads as markup: what the user wrote
 * is shown as written.
 */
export function escapeMarkup(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      ({
        '&': '&amp;',
        '<': '&lt;',
        '>': '&gt;',
        '"': '&quot;',
        "'": '&apos;',
      })[c]!,
  );
}

/**
 * Most pixels a watermark's text layer may have. Pango draws text outside
 * libvips' evaluation, where sharp's timeout cannot stop it: the layer's size
 * is what bounds its time and memory (16 Mpx, a 4000×4000 layer, takes well
 * under a second).
 */
export const MAX_TEXT_LAYER_PIXELS = 16_000_000;

/**
 * A watermark whose text would be drawn larger than MAX_TEXT_LAYER_PIXELS; no
 * retry will fix it.
 */
export class WatermarkTooLargeError extends Error {
  constructor(width: number, height: number) {
    super(
      `watermark text would be drawn about ${width}×${height} px (${((width * height) / 1e6).toFixed(1)} Mpx), ` +
        `more than the ${MAX_TEXT_LAYER_PIXELS / 1e6} Mpx a text layer may have: use a smaller size or shorter text`,
    );
    this.name = 'WatermarkTooLargeError';
  }
}

/**
 * What a watermark's layer depends on (not where it goes): watermarks with the
 * same key share one layer.
 */
export function watermarkLayerKey(operation: WatermarkOperation): string {
  return JSON.stringify([
    operation.text ?? null,
    operation.image ?? null,
    operation.size ?? null,
    operation.color ?? null,
    operation.opacity ?? null,
  ]);
}

/**
 * Pango's default 12 pt at 72 dpi sets a line about 12 px high: the resolution
 * that draws a line `size` px high.
 */
function textDpi(size: number): number {
  return Math.round(size * 6);
}

const MEASURE_DPI = 72;

function textInput(markup: string, dpi: number): SharpOptions {
  return { text: { text: markup, font: 'sans', rgba: true, dpi } };
}

/**
 * Refuses text whose layer would exceed MAX_TEXT_LAYER_PIXELS, judged from a
 * drawing at a small resolution (cheap: a few hundred pixels a side), scaled by
 * the resolution asked for: Pango's layout grows in proportion to it (hinting
 * makes small drawings a little larger, so the estimate errs high).
 */
async function checkTextLayerSize(markup: string, dpi: number): Promise<void> {
  const { width = 0, height = 0 } = await sharp(
    textInput(markup, MEASURE_DPI),
  ).metadata();
  const scale = dpi / MEASURE_DPI;
  const [estimatedWidth, estimatedHeight] = [
    Math.ceil(width * scale),
    Math.ceil(height * scale),
  ];
  if (estimatedWidth * estimatedHeight > MAX_TEXT_LAYER_PIXELS)
    throw new WatermarkTooLargeError(estimatedWidth, estimatedHeight);
}

/**
 * The layer a watermark operation lays over the image: its text or image, at
 * its opacity.
 */
export async function renderWatermark(
  operation: WatermarkOperation,
  resolveImage: WatermarkImageResolver | undefined,
  maxInputPixels: number,
  deadline?: Deadline,
): Promise<Buffer> {
  let layer: Sharp;
  if (operation.image !== undefined) {
    if (!resolveImage) throw new Error('watermark images cannot be used here');
    layer = sharp(await resolveImage(operation.image), {
      limitInputPixels: maxInputPixels,
      failOn: 'warning',
    });
  } else {
    const markup = `<span foreground="${operation.color ?? '#ffffff'}">${escapeMarkup(operation.text ?? '')}</span>`;
    const dpi = textDpi(operation.size ?? 24);
    await checkTextLayerSize(markup, dpi);
    layer = sharp(textInput(markup, dpi));
  }
  const opacity = operation.opacity ?? 0.5;
  // Two passes: sharp adds the alpha band after its linear step, so the band
  // must exist first.
  const { data: withAlpha } = await toBufferWithin(
    layer.ensureAlpha().png(),
    deadline,
    'rendering a watermark',
  );
  const { data } = await toBufferWithin(
    sharp(withAlpha).linear([1, 1, 1, opacity], [0, 0, 0, 0]).png(),
    deadline,
    'rendering a watermark',
  );
  return data;
}
