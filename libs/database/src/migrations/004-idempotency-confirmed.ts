export const name = '004-idempotency-confirmed';

export const sql = `
ALTER TABLE jobs ADD COLUMN idempotency_confirmed_at timestamptz;
COMMENT ON COLUMN jobs.idempotency_confirmed_at IS 'For a job submitted with an Idempotency-Key: when the broker confirmed it. A repeat answers only once this is set.';
UPDATE jobs SET idempotency_confirmed_at = created_at WHERE idempotency_key IS NOT NULL;
`;
