import {
  parseDurationFlag,
  parseOperationFlag,
  progressLine,
} from './op-syntax';

describe('the CLI operation syntax', () => {
  it.each([
    ['grayscale', { op: 'grayscale' }],
    ['resize:width=320', { op: 'resize', width: 320 }],
    [
      'resize:width=320,height=200,fit=inside,withoutEnlargement=true',
      {
        op: 'resize',
        width: 320,
        height: 200,
        fit: 'inside',
        withoutEnlargement: true,
      },
    ],
    ['blur:sigma=2.5', { op: 'blur', sigma: 2.5 }],
    [
      'rotate:angle=-90,background=#ff0000',
      { op: 'rotate', angle: -90, background: '#ff0000' },
    ],
    ['watermark:text=a=b', { op: 'watermark', text: 'a=b' }],
  ])('%s', (flag, expected) => {
    expect(parseOperationFlag(flag)).toEqual(expected);
  });

  it('names what is wrong', () => {
    expect(() => parseOperationFlag('Resize:width=1')).toThrow(
      '--op "Resize:width=1": expected name or name:field=value,… (e.g. resize:width=320)',
    );
    expect(() => parseOperationFlag('resize:width')).toThrow(
      '--op "resize:width": "width" is not field=value',
    );
  });

  it('draws a progress bar', () => {
    expect(progressLine('upload', 5, 10, 10)).toBe('upload [#####.....] 5/10');
    expect(progressLine('upload', 0, 0, 4)).toBe('upload [####] 0/0');
  });
});

describe('the CLI duration syntax', () => {
  it.each([
    ['0s', 0],
    ['45s', 45],
    ['90m', 5400],
    ['1h', 3600],
    ['30d', 2_592_000],
  ])('%s', (value, seconds) => {
    expect(parseDurationFlag('overlap', value)).toBe(seconds);
  });

  it.each(['', '1', 'h', '1.5h', '-1h', '1w', '1 h 2 m'])(
    'refuses "%s", naming the flag',
    (value) => {
      expect(() => parseDurationFlag('expires-in', value)).toThrow(
        `--expires-in "${value}": expected a whole number and a unit`,
      );
    },
  );
});
