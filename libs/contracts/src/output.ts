import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

export const OUTPUT_FORMATS = [
  'jpeg',
  'png',
  'webp',
  'avif',
  'tiff',
  'gif',
] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const CONTENT_TYPES: Record<OutputFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  tiff: 'image/tiff',
  gif: 'image/gif',
};

/**
 * Encoder effort each format accepts (sharp's ranges): more is slower and
 * smaller.
 */
export const EFFORT_RANGES: Partial<Record<OutputFormat, [number, number]>> = {
  png: [1, 10],
  webp: [0, 6],
  avif: [0, 9],
  gif: [1, 10],
};

export class OutputOptions {
  /**
   * Defaults to the input's format when that is jpeg, png or webp, else jpeg.
   */
  @IsOptional() @IsIn(OUTPUT_FORMATS) format?: OutputFormat;
  @IsOptional() @IsInt() @Min(1) @Max(100) quality?: number;
  /** webp and avif only. */
  @IsOptional() @IsBoolean() lossless?: boolean;
  /** jpeg only: progressive (interlaced) scans. */
  @IsOptional() @IsBoolean() progressive?: boolean;
  /** png, webp, avif and gif; see EFFORT_RANGES. */
  @IsOptional() @IsInt() @Min(0) @Max(10) effort?: number;
}

/**
 * Rules between fields, which a field's own decorators cannot see; `format` is
 * the one that will be used.
 */
export function outputOptionProblems(
  options: OutputOptions,
  format: OutputFormat | undefined,
  path: string,
): string[] {
  const problems: string[] = [];
  if (
    options.lossless !== undefined &&
    format !== undefined &&
    format !== 'webp' &&
    format !== 'avif'
  ) {
    problems.push(`${path}.lossless applies to webp and avif, not ${format}`);
  }
  if (
    options.progressive !== undefined &&
    format !== undefined &&
    format !== 'jpeg'
  ) {
    problems.push(`${path}.progressive applies to jpeg, not ${format}`);
  }
  if (options.effort !== undefined && format !== undefined) {
    const range = EFFORT_RANGES[format];
    if (!range)
      problems.push(
        `${path}.effort applies to png, webp, avif and gif, not ${format}`,
      );
    else if (options.effort < range[0] || options.effort > range[1])
      problems.push(
        `${path}.effort must be from ${range[0]} to ${range[1]} for ${format}`,
      );
  }
  return problems;
}

/** What a finished job produced. */
export interface OutputInfo {
  format: OutputFormat;
  width: number;
  height: number;
  sizeBytes: number;
}
