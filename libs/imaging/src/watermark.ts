import { WatermarkOperation } from '@pipeline/contracts';
import sharp, { Sharp } from 'sharp';

/** Finds a watermark image by its path in the images folder; the worker passes the confined resolver. */
export type WatermarkImageResolver = (path: string) => Promise<string>;

/** Text for Pango, which sharp's text input reads as markup: what the user wrote is shown as written. */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The layer a watermark operation lays over the image: its text or image, at its opacity. */
export async function renderWatermark(operation: WatermarkOperation, resolveImage: WatermarkImageResolver | undefined, maxInputPixels: number): Promise<Buffer> {
  let layer: Sharp;
  if (operation.image !== undefined) {
    if (!resolveImage) throw new Error('watermark images cannot be used here');
    layer = sharp(await resolveImage(operation.image), { limitInputPixels: maxInputPixels, failOn: 'warning' });
  } else {
    const color = operation.color ?? '#ffffff';
    layer = sharp({
      text: {
        text: `<span foreground="${color}">${escapeMarkup(operation.text ?? '')}</span>`,
        font: 'sans',
        rgba: true,
        // Pango's default 12 pt at 72 dpi sets a line about 12 px high: scale the resolution to the size asked.
        dpi: Math.round((operation.size ?? 24) * 6),
      },
    });
  }
  const opacity = operation.opacity ?? 0.5;
  // Two passes: sharp adds the alpha band after its linear step, so the band must exist first.
  const withAlpha = await layer.ensureAlpha().png().toBuffer();
  return sharp(withAlpha).linear([1, 1, 1, opacity], [0, 0, 0, 0]).png().toBuffer();
}
