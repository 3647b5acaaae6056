import {
  JobSource,
  Operation,
  OutputOptions,
  RecordedJob,
  VariantSpec,
} from '@pipeline/contracts';

export type { RecordedJob } from '@pipeline/contracts';

/**
 * The columns that hold a job's request, and how they read as a RecordedJob.
 */
export const RECORDED_COLUMNS =
  'source, operations, output_options, variants, created_at';

export interface RecordedRow {
  source: JobSource;
  operations: Operation[];
  output_options: OutputOptions;
  variants: VariantSpec[] | null;
  created_at: Date;
}

export function toRecordedJob(id: string, row: RecordedRow): RecordedJob {
  return {
    id,
    source: row.source,
    operations: row.operations,
    output: row.output_options,
    ...(row.variants ? { variants: row.variants } : {}),
    createdAt: row.created_at,
  };
}
