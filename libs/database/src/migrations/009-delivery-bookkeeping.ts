export const name = '009-delivery-bookkeeping';

export const sql = `
ALTER TABLE jobs ADD COLUMN published_at timestamptz;
COMMENT ON COLUMN jobs.published_at IS 'When the broker confirmed the job''s current message. A queued job without it was never answered with a 202 (its producer died before the confirm); the sweeper publishes it again.';
UPDATE jobs SET published_at = COALESCE(idempotency_confirmed_at, created_at);
ALTER TABLE jobs DROP COLUMN idempotency_confirmed_at;

ALTER TABLE jobs ADD COLUMN attempt_seq int NOT NULL DEFAULT 1;
COMMENT ON COLUMN jobs.attempt_seq IS 'The highest attempt number ever handed out, committed before that attempt is published, so that a number whose start was rolled back (a late confirm, a failed commit) is never used again.';
UPDATE jobs SET attempt_seq = attempt;

ALTER TABLE jobs ADD COLUMN stuck_reason text;
ALTER TABLE jobs ADD COLUMN stuck_since timestamptz;
COMMENT ON COLUMN jobs.stuck_reason IS 'Set by the sweeper when an unfinished job has nothing left that would move it (its worker is gone and no job message waits in any queue); cleared by the next event of the job.';
`;
