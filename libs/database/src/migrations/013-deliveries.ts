export const name = '013-deliveries';

// One name per count: `attempt` is the run, and this column counts
// deliveries (see the glossary in the README, "Delivery guarantees"). While an
// upgrade rolls out, the apps of the previous release still read and add to
// `attempts`: the former name stays, kept equal to `deliveries` whichever of
// the two a statement sets, until a later release drops it.
export const sql = `
ALTER TABLE jobs RENAME COLUMN attempts TO deliveries;
COMMENT ON COLUMN jobs.deliveries IS 'Deliveries of the job to a worker that started it, over all attempts and tries (redeliveries included).';

ALTER TABLE jobs ADD COLUMN attempts integer NOT NULL DEFAULT 0;
UPDATE jobs SET attempts = deliveries WHERE deliveries <> 0;
COMMENT ON COLUMN jobs.attempts IS 'Deprecated: deliveries under its former name, for the apps of the previous release; kept equal to deliveries by the trigger jobs_former_attempts.';

CREATE FUNCTION jobs_former_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.attempts IS DISTINCT FROM OLD.attempts
     AND NEW.deliveries IS NOT DISTINCT FROM OLD.deliveries THEN
    NEW.deliveries := NEW.attempts;
  ELSE
    NEW.attempts := NEW.deliveries;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER jobs_former_attempts
  BEFORE INSERT OR UPDATE OF attempts, deliveries ON jobs
  FOR EACH ROW EXECUTE FUNCTION jobs_former_attempts();
`;
