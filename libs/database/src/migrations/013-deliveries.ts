export const name = '013-deliveries';

// One name per count: `attempt` is the run, and this column counts
// deliveries (see the glossary in the README, "Delivery guarantees").
export const sql = `
ALTER TABLE jobs RENAME COLUMN attempts TO deliveries;
COMMENT ON COLUMN jobs.deliveries IS 'Deliveries of the job to a worker that started it, over all attempts and tries (redeliveries included).';
`;
