import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp', 'avif'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const CONTENT_TYPES: Record<OutputFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};

export class OutputOptions {
  /** Defaults to the input's format when that is jpeg, png or webp, else jpeg. */
  @IsOptional() @IsIn(OUTPUT_FORMATS) format?: OutputFormat;
  @IsOptional() @IsInt() @Min(1) @Max(100) quality?: number;
}

/** What a finished job produced. */
export interface OutputInfo {
  format: OutputFormat;
  width: number;
  height: number;
  sizeBytes: number;
}
