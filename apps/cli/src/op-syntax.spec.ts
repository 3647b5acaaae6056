import { parseOperationFlag, progressLine } from './op-syntax';

describe('the CLI operation syntax', () => {
  it.each([
    ['grayscale', { op: 'grayscale' }],
    ['resize:width=320', { op: 'resize', width: 320 }],
    ['resize:width=320,height=200,fit=inside,withoutEnlargement=true', { op: 'resize', width: 320, height: 200, fit: 'inside', withoutEnlargement: true }],
    ['blur:sigma=2.5', { op: 'blur', sigma: 2.5 }],
    ['rotate:angle=-90,background=#ff0000', { op: 'rotate', angle: -90, background: '#ff0000' }],
    ['watermark:text=a=b', { op: 'watermark', text: 'a=b' }],
  ])('%s', (flag, expected) => {
    expect(parseOperationFlag(flag)).toEqual(expected);
  });

  it('names what is wrong', () => {
    expect(() => parseOperationFlag('Resize:width=1')).toThrow('--op "Resize:width=1": expected name or name:field=value,… (e.g. resize:width=320)');
    expect(() => parseOperationFlag('resize:width')).toThrow('--op "resize:width": "width" is not field=value');
  });

  it('draws a progress bar', () => {
    expect(progressLine('upload', 5, 10, 10)).toBe('upload [#####.....] 5/10');
    expect(progressLine('upload', 0, 0, 4)).toBe('upload [####] 0/0');
  });
});
