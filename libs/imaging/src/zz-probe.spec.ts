import sharp, { Sharp } from 'sharp';
import { processImage, planStages } from '@pipeline/imaging';
import { makeImage } from '../../../test/support/images';
const L = { maxInputPixels: 1e8 };
function apply(img: Sharp, op: any): Sharp {
  switch (op.op) {
    case 'resize': return img.resize({ width: op.width, height: op.height, fit: op.fit });
    case 'crop': return img.extract({ left: op.left, top: op.top, width: op.width, height: op.height });
    case 'rotate': return img.rotate(op.angle);
    case 'flip': return img.flip();
    case 'flop': return img.flop();
  }
  throw new Error('x');
}
async function stepwise(input: Buffer, ops: any[]) {
  let r = await sharp(input).autoOrient().raw().toBuffer({ resolveWithObject: true });
  for (const op of ops) {
    r = await apply(sharp(r.data, { raw: { width: r.info.width, height: r.info.height, channels: r.info.channels as 3 } }), op).raw().toBuffer({ resolveWithObject: true });
  }
  return r;
}
test('probe', async () => {
  const png = await makeImage(120, 80, 'png');
  const o6 = await sharp(png).withMetadata({ orientation: 5 }).png().toBuffer();
  const ops: any[] = [
    { op: 'crop', left: 5, top: 10, width: 40, height: 30 },
    { op: 'flip' }, { op: 'flop' }, { op: 'rotate', angle: 90 }, { op: 'rotate', angle: 270 }, { op: 'rotate', angle: 180 },
    { op: 'resize', width: 60 }, { op: 'resize', width: 30, height: 20 }, { op: 'resize', width: 30, height: 20, fit: 'fill' }, { op: 'resize', width: 30, height: 20, fit: 'contain' },
  ];
  const seqs: any[][] = [];
  for (const a of ops) for (const b of ops) { seqs.push([a, b]); for (const c of ops) seqs.push([a, b, c]); }
  let bad = 0;
  for (const input of [png, o6]) for (const seq of seqs) {
    let ref; try { ref = await stepwise(input, seq); } catch { continue; }
    let got;
    try { const out = await processImage(input, seq, { format: 'png' }, L); got = await sharp(out.data).raw().toBuffer({ resolveWithObject: true }); } catch (e: any) { console.log('ERR', input === png ? 'plain' : 'exif5', JSON.stringify(seq), e.message); bad++; continue; }
    const same = got.info.width === ref.info.width && got.info.height === ref.info.height;
    let diff = 0;
    if (same && got.info.channels === ref.info.channels) { for (let i = 0; i < got.data.length; i++) diff += Math.abs(got.data[i] - ref.data[i]); diff /= got.data.length; }
    if (!same || diff > 3) { bad++; if (bad < 60) console.log(input === png ? 'plain' : 'exif5', JSON.stringify(seq), JSON.stringify(planStages(seq).map(s => s.map(o => o.op))), 'ref', ref.info.width, ref.info.height, 'got', got.info.width, got.info.height, 'diff', diff.toFixed(1)); }
  }
  console.log('bad', bad, 'of', seqs.length * 2);
}, 120000);
