export const name = '005-retries';

export const sql = `
ALTER TABLE job_events DROP CONSTRAINT job_events_type_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_type_check
  CHECK (type IN ('queued', 'started', 'retrying', 'succeeded', 'failed', 'retried', 'purged'));
COMMENT ON COLUMN job_events.type IS 'queued; started (per delivery); retrying (a try failed transiently, the job waits for the next); succeeded or failed; retried (an operator ran a failed job again: a new attempt); purged (an operator purged its message from the dead-letter queue).';

ALTER TABLE jobs ADD COLUMN attempt integer NOT NULL DEFAULT 1;
COMMENT ON COLUMN jobs.attempt IS 'The current run of the job: 1, plus one per operator retry. Events of other runs do not change the row.';
COMMENT ON COLUMN jobs.attempts IS 'Deliveries started, over all runs and tries.';
`;
