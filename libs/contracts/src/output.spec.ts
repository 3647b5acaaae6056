import { problemsOf } from '../../../test/support/validation';
import { parseOutputOptions } from './validation';

describe('output options', () => {
  it('accepts the options each format has', () => {
    expect(
      parseOutputOptions({ format: 'jpeg', quality: 85, progressive: true }),
    ).toEqual({ format: 'jpeg', quality: 85, progressive: true });
    expect(
      parseOutputOptions({ format: 'webp', lossless: true, effort: 6 }),
    ).toEqual({ format: 'webp', lossless: true, effort: 6 });
    expect(
      parseOutputOptions({ format: 'avif', lossless: false, effort: 9 }),
    ).toEqual({ format: 'avif', lossless: false, effort: 9 });
    expect(parseOutputOptions({ format: 'gif', effort: 1 })).toEqual({
      format: 'gif',
      effort: 1,
    });
    expect(parseOutputOptions({ format: 'tiff', quality: 40 })).toEqual({
      format: 'tiff',
      quality: 40,
    });
  });

  it.each([
    [
      { format: 'jpeg', lossless: true },
      'output.lossless applies to webp and avif, not jpeg',
    ],
    [
      { format: 'png', progressive: true },
      'output.progressive applies to jpeg, not png',
    ],
    [
      { format: 'webp', effort: 7 },
      'output.effort must be from 0 to 6 for webp',
    ],
    [
      { format: 'png', effort: 0 },
      'output.effort must be from 1 to 10 for png',
    ],
    [
      { format: 'jpeg', effort: 3 },
      'output.effort applies to png, webp, avif and gif, not jpeg',
    ],
    [
      { lossless: true },
      'output.lossless needs output.format, since the default format follows the input',
    ],
    [
      { format: 'webp', lossless: 'yes' },
      'output.lossless must be a boolean value',
    ],
    [
      { format: 'bmp' },
      'output.format must be one of the following values: jpeg, png, webp, avif, tiff, gif',
    ],
  ])('refuses %j', (raw, problem) => {
    expect(problemsOf(() => parseOutputOptions(raw))).toEqual([problem]);
  });
});
