export const name = '006-workers';

export const sql = `
CREATE TABLE workers (
  id             text PRIMARY KEY,
  host           text NOT NULL,
  pid            integer NOT NULL,
  started_at     timestamptz NOT NULL,
  last_seen_at   timestamptz NOT NULL,
  jobs_succeeded bigint NOT NULL DEFAULT 0,
  jobs_failed    bigint NOT NULL DEFAULT 0,
  in_flight      integer NOT NULL DEFAULT 0,
  stopped_at     timestamptz
);
COMMENT ON TABLE workers IS 'Image workers as their heartbeats describe them; one silent for longer than the timeout is gone.';
CREATE INDEX workers_last_seen_at_idx ON workers (last_seen_at DESC);
`;
