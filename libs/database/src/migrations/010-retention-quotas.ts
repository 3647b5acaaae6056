export const name = '010-retention-quotas';

export const sql = `
ALTER TABLE jobs ADD COLUMN input_bytes bigint;
COMMENT ON COLUMN jobs.input_bytes IS 'Size of the uploaded input, counted in its key''s stored bytes until it expires; null for other sources (and uploads from before quotas).';
ALTER TABLE jobs ADD COLUMN input_expired_at timestamptz;
COMMENT ON COLUMN jobs.input_expired_at IS 'When the retention sweep removed the uploaded input (RETENTION_UPLOADS_S after the job finished): the job can no longer run again.';
ALTER TABLE jobs ADD COLUMN outputs_expired_at timestamptz;
COMMENT ON COLUMN jobs.outputs_expired_at IS 'When the retention sweep removed the outputs (RETENTION_OUTPUTS_S after the job finished): their results answer 410.';
CREATE INDEX jobs_outputs_expiry_idx ON jobs (finished_at) WHERE status = 'succeeded' AND outputs_expired_at IS NULL;
CREATE INDEX jobs_input_expiry_idx ON jobs (finished_at) WHERE status IN ('succeeded', 'failed') AND input_expired_at IS NULL AND source->>'kind' = 'upload';
CREATE INDEX jobs_finished_at_idx ON jobs (finished_at) WHERE status IN ('succeeded', 'failed');

ALTER TABLE api_keys ADD COLUMN stored_bytes_quota bigint, ADD COLUMN jobs_per_day_quota integer;
COMMENT ON COLUMN api_keys.stored_bytes_quota IS 'Bytes of inputs and outputs the key may keep stored; null: the producer''s QUOTA_STORED_BYTES.';
COMMENT ON COLUMN api_keys.jobs_per_day_quota IS 'Jobs the key may submit per UTC day; null: the producer''s QUOTA_JOBS_PER_DAY.';

CREATE TABLE api_key_quota_usage (
  api_key_id   uuid PRIMARY KEY REFERENCES api_keys (id),
  stored_bytes bigint NOT NULL DEFAULT 0,
  day          date NOT NULL,
  jobs_on_day  integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE api_key_quota_usage IS 'What each key holds against its quotas: stored bytes (added with each upload and recorded output, taken off as they expire) and jobs submitted on day (UTC); one row per key, updated in the statement that records the change.';

INSERT INTO api_key_quota_usage (api_key_id, stored_bytes, day, jobs_on_day)
  SELECT j.api_key_id, sum(o.size_bytes), (now() AT TIME ZONE 'UTC')::date, 0
  FROM job_outputs o JOIN jobs j ON j.id = o.job_id
  WHERE j.api_key_id IS NOT NULL
  GROUP BY j.api_key_id;

COMMENT ON COLUMN jobs.published_at IS 'When the broker confirmed the job''s current message. A queued job without it was never answered with a 202 (its producer died before the confirm, or before it could record it); the sweeper publishes it again.';
`;
