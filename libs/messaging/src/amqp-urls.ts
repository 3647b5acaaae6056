/**
 * Connecting to the nodes `AMQP_URL` names: how they are shown and in which
 * order they are tried. The setting's syntax is platform's
 * (amqp-url-list.ts); its parser is re-exported here for the connection.
 */
export {
  amqpUrlListProblem,
  parseAmqpUrls,
  redactUrl,
} from '@pipeline/platform';

/** How a node is shown in logs: `host:port`, never the credentials. */
export function nodeLabel(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port || (parsed.protocol === 'amqps:' ? '5671' : '5672');
  return `${parsed.hostname}:${port}`;
}

/**
 * The order in which to try the nodes for one round of connection attempts:
 * every node once, starting with `start` and wrapping around. After a
 * connection to node i is lost, the next round starts at i + 1, so an app moves
 * on to another node instead of knocking at a dead one first; the lost node is
 * still tried, last.
 */
export function connectionRound(count: number, start: number): number[] {
  if (count <= 0) return [];
  const first = ((start % count) + count) % count;
  return Array.from({ length: count }, (_, offset) => (first + offset) % count);
}

/**
 * The pause before the next round once every node refused: doubling from
 * `initialMs` up to `maxMs`, with up to ±20% jitter (`random` in [0, 1)), so
 * apps restarting together do not knock in step.
 */
export function roundDelay(
  failedRounds: number,
  initialMs: number,
  maxMs: number,
  random: number = Math.random(),
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, failedRounds - 1));
  const jittered = base * (0.8 + 0.4 * random);
  return Math.round(Math.min(maxMs, jittered));
}
