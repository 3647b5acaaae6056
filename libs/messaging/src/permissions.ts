import { retryQueueName, Topology } from './topology';

/** The apps that connect to the broker, each as a user of its own. */
export type BrokerRole = 'producer' | 'worker' | 'writer';
export const BROKER_ROLES: readonly BrokerRole[] = [
  'producer',
  'worker',
  'writer',
];

/**
 * A user's permissions in the vhost: regular expressions over exchange and
 * queue names, as `rabbitmqctl set_permissions` takes them.
 */
export interface BrokerPermission {
  configure: string;
  write: string;
  read: string;
}

/** Matches no name at all (RabbitMQ's way of granting nothing). */
export const NO_RESOURCE = '^$';

/**
 * RabbitMQ's name for the default exchange in permission checks: publishing to
 * a queue by name is writing to it.
 */
const DEFAULT_EXCHANGE = 'amq.default';

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A regular expression matching exactly the given names and, if given, the
 * names of `patterns` (already regexes).
 */
function exactly(names: string[], patterns: string[] = []): string {
  return `^(${[...names.map(escapeRegex), ...patterns].join('|')})$`;
}

/** Every delay queue of the jobs queue, whatever RETRY_DELAYS_MS says. */
function retryQueuesPattern(prefix: string): string {
  const marker = '\u0000';
  const [before, after] = retryQueueName(prefix, marker).split(marker);
  return `${escapeRegex(before)}[0-9]+${escapeRegex(after)}`;
}

/**
 * What each app's broker user may do, derived from the topology's names under
 * `prefix` so the two cannot drift apart:
 * - producer: declares the topology (AMQP_TOPOLOGY=declare; a queue with a
 *   dead-letter exchange needs read on the queue and write on that exchange, a
 *   binding write on the queue and read on the exchange), publishes jobs,
 *   replays and purges the dead-letter queues; all of it on the pipeline's own
 *   exchanges and queues only.
 * - worker: configures nothing; consumes the jobs queue, publishes events and
 *   heartbeats to the pipeline's exchange, and retries to the delay queues and
 *   jobs it hands back to the jobs queue, by name through the default
 *   exchange.
 * - writer: configures nothing; consumes the events queue, and publishes to the
 *   pipeline's exchange only (the sweeper sends stuck jobs again). Checking the
 *   topology (AMQP_TOPOLOGY=check) and reading queue depths are passive
 *   declarations, which need no permission.
 */
export function brokerPermissions(
  prefix: string,
): Record<BrokerRole, BrokerPermission> {
  const topology = new Topology(prefix, 1, []);
  const exchanges = [topology.exchange, topology.deadLetterExchange];
  const own = exactly(
    [...exchanges, ...topology.queues],
    [retryQueuesPattern(prefix)],
  );
  return {
    producer: { configure: own, write: own, read: own },
    worker: {
      configure: NO_RESOURCE,
      write: exactly([topology.exchange, DEFAULT_EXCHANGE]),
      read: exactly([topology.jobsQueue]),
    },
    writer: {
      configure: NO_RESOURCE,
      write: exactly([topology.exchange]),
      read: exactly([topology.eventsQueue]),
    },
  };
}
