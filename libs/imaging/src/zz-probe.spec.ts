import sharp from 'sharp';
import { processImage, classifyProcessingError, planStages } from '@pipeline/imaging';
import { makeImage } from '../../../test/support/images';
const L = { maxInputPixels: 1e8 };
async function p(label: string, fn: () => Promise<unknown>) {
  try { console.log(label, 'OK', JSON.stringify(await fn())); } catch (e: any) { console.log(label, 'ERR', JSON.stringify(e.message), JSON.stringify(classifyProcessingError(e))); }
}
test('probe', async () => {
  const jpg = await makeImage(400, 300);
  const dims = async (ops: any[], input = jpg) => { const r = await processImage(input, ops, { format: 'png' }, L); return [r.width, r.height, JSON.stringify(planStages(ops).map(s => s.map(o => o.op)))]; };
  for (const fit of ['cover', 'contain', 'fill', 'inside', 'outside']) {
    await p(`resize ${fit} rot90`, () => dims([{ op: 'resize', width: 100, height: 50, fit }, { op: 'rotate', angle: 90 }]));
    await p(`resize ${fit} only`, () => dims([{ op: 'resize', width: 100, height: 50, fit }]));
    await p(`resize ${fit} rot45`, () => dims([{ op: 'resize', width: 100, height: 50, fit }, { op: 'rotate', angle: 45 }]));
  }
  await p(`crop resize cover rot90`, () => dims([{ op: 'crop', left: 0, top: 0, width: 200, height: 200 }, { op: 'resize', width: 100, height: 50, fit: 'cover' }, { op: 'rotate', angle: 90 }]));
  await p(`resize cover crop`, () => dims([{ op: 'resize', width: 100, height: 50, fit: 'cover' }, { op: 'crop', left: 0, top: 0, width: 50, height: 50 }]));
  await p(`resize cover rot90 crop`, () => dims([{ op: 'resize', width: 100, height: 50, fit: 'cover' }, { op: 'rotate', angle: 90 }, { op: 'crop', left: 0, top: 0, width: 50, height: 100 }]));
  const o6 = await sharp(jpg).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  await p('exif6 resize cover', () => dims([{op:'resize', width: 100, height: 50, fit: 'cover'}], o6));
  await p('exif6 resize cover rot90', () => dims([{op:'resize', width: 100, height: 50, fit: 'cover'}, {op:'rotate', angle: 90}], o6));
  await p('exif6 crop rot90', () => dims([{op:'crop', left: 0, top: 0, width: 300, height: 10}, {op:'rotate', angle: 90}], o6));
  await p('exif6 rot90', () => dims([{op:'rotate', angle: 90}], o6));
  await p('exif6 flip resize', () => dims([{op:'flip'}, {op:'resize', width: 150}], o6));
  await p('exif6 rot90 resize', () => dims([{op:'rotate', angle: 90}, {op:'resize', width: 150}], o6));
  await p('exif6 resize crop', () => dims([{op:'resize', width: 150}, {op:'crop', left: 0, top: 0, width: 150, height: 10}], o6));
  await p('exif6 rot45', () => dims([{op:'rotate', angle: 45}], o6));
});
