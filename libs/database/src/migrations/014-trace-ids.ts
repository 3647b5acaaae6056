export const name = '014-trace-ids';

// The trace a job was submitted in (tracing on: OTEL_EXPORTER_OTLP_ENDPOINT),
// shown on the job's API view; null for jobs submitted without tracing.
export const sql = `
ALTER TABLE jobs ADD COLUMN trace_id text
  CONSTRAINT jobs_trace_id_shape CHECK (trace_id ~ '^[0-9a-f]{32}$');
COMMENT ON COLUMN jobs.trace_id IS 'W3C trace id of the request that submitted the job (null when tracing was off).';
`;
