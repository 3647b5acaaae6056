export const name = '001-jobs';

export const sql = `
CREATE TABLE jobs (
  id            uuid PRIMARY KEY,
  status        text NOT NULL CHECK (status IN ('queued', 'processing', 'succeeded', 'failed')),
  attempts      integer NOT NULL DEFAULT 0,
  source        jsonb NOT NULL,
  operations    jsonb NOT NULL,
  output_options jsonb NOT NULL DEFAULT '{}',
  output_format text,
  output_width  integer,
  output_height integer,
  output_bytes  bigint,
  output_key    text,
  error_code    text,
  error_message text,
  worker_id     text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE jobs IS 'One row per submitted image job: its request, its state and its outcome.';
CREATE INDEX jobs_created_at_idx ON jobs (created_at DESC);
CREATE INDEX jobs_status_created_at_idx ON jobs (status, created_at DESC);

CREATE TABLE job_events (
  event_id    text PRIMARY KEY,
  job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  type        text NOT NULL CHECK (type IN ('queued', 'started', 'succeeded', 'failed')),
  attempt     integer NOT NULL,
  delivery    integer,
  worker_id   text,
  at          timestamptz NOT NULL,
  detail      jsonb,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE job_events IS 'Timeline of each job; event_id makes a redelivered event a no-op.';
CREATE INDEX job_events_job_id_at_idx ON job_events (job_id, at);

CREATE VIEW job_timeline AS
  SELECT e.job_id, e.at, e.type, e.attempt, e.delivery, e.worker_id, e.detail, j.status AS job_status
  FROM job_events e JOIN jobs j ON j.id = e.job_id
  ORDER BY e.job_id, e.at, e.recorded_at;
`;
