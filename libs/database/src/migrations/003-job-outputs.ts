export const name = '003-job-outputs';

export const sql = `
CREATE TABLE job_outputs (
  job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  name        text NOT NULL,
  position    integer NOT NULL,
  format      text NOT NULL,
  width       integer NOT NULL,
  height      integer NOT NULL,
  size_bytes  bigint NOT NULL,
  storage_key text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, name)
);
COMMENT ON TABLE job_outputs IS 'One row per output of a succeeded job: its only one (named default) or each of its variants.';

INSERT INTO job_outputs (job_id, name, position, format, width, height, size_bytes, storage_key, created_at)
  SELECT id, 'default', 0, output_format, output_width, output_height, output_bytes, output_key, COALESCE(finished_at, updated_at)
  FROM jobs WHERE output_key IS NOT NULL;

ALTER TABLE jobs
  DROP COLUMN output_format, DROP COLUMN output_width, DROP COLUMN output_height, DROP COLUMN output_bytes, DROP COLUMN output_key,
  ADD COLUMN variants jsonb;
COMMENT ON COLUMN jobs.variants IS 'The outputs the job asked for, each with its operations and encoding; null for a job with one output.';
`;
