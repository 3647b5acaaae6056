import { Topology } from '@pipeline/messaging';
import { connect } from 'amqplib';
import { Pool } from 'pg';
import { Pipeline } from '../faults/harness';
import { JobLoad } from '../faults/load';
import {
  acceptedAfter,
  COOLDOWN_MS,
  DRAIN_TIMEOUT_MS,
  FINISH_STALL_MS,
  keepLogs,
  sleep,
  WARMUP_MS,
} from '../faults/scenario';
import {
  inspectionPool,
  summaryLine,
  Tally,
  tallyJobs,
  waitUntilFinished,
} from '../faults/tally';
import { waitFor } from '../support/resources';
import { ClusterNode, LocalCluster } from '../support/local-rabbitmq';

const WORKERS = 2;

export interface ClusterContext {
  cluster: LocalCluster;
  pipeline: Pipeline;
  load: JobLoad;
  pool: Pool;
  jobsQueue: string;
}

export interface ClusterScenario {
  name: string;
  /**
   * Breaks the cluster while jobs flow and mends it (in a finally) before
   * returning; may return checks to make at the end.
   */
  fault: (
    context: ClusterContext,
  ) => Promise<(() => Promise<void> | void) | void>;
}

export interface ClusterTally extends Tally {
  /**
   * Requests answered with anything but 202 (503 while the producer had no
   * node), or not at all.
   */
  refused: number;
}

/**
 * The summary line: `cluster: [scenario=<name> ]nodes=N` and then
 * `accepted=N succeeded=N failed=N lost=N duplicated=N`.
 */
export function clusterLine(
  nodes: number,
  tally: Tally,
  scenario?: string,
): string {
  return summaryLine(tally, scenario, { suite: 'cluster', fields: { nodes } });
}

/**
 * One scenario on the cluster: a fresh pipeline (producer, workers, writer as
 * separate processes, AMQP_URL listing every node) under a steady stream of
 * jobs, the fault, then the reckoning from PostgreSQL. Prints the scenario's
 * line; fails when an accepted job was lost, finished twice or failed, when
 * nothing was accepted, when a queue was left holding messages, or when a
 * worker or the writer did not consume again.
 */
export async function runClusterScenario(
  cluster: LocalCluster,
  scenario: ClusterScenario,
  tallies: ClusterTally[],
): Promise<void> {
  const pipeline = await Pipeline.start({
    scenario: scenario.name,
    kind: 'cluster',
    workers: WORKERS,
    cleanBroker: false,
    env: {
      AMQP_URL: cluster.amqpUrl,
      AMQP_HEARTBEAT_S: '5',
      AMQP_QUORUM_INITIAL_GROUP_SIZE: String(cluster.nodes.length),
    },
  });
  const pool = inspectionPool(pipeline.databaseUrl);
  const topology = new Topology(pipeline.prefix, 1);
  try {
    await cluster.waitUntilQueuesReplicated(pipeline.prefix);
    const load = await JobLoad.prepare(pipeline.baseUrl, pipeline.imagesDir, {
      ratePerSecond: 10,
      apiKey: pipeline.adminApiKey,
    });
    const context: ClusterContext = {
      cluster,
      pipeline,
      load,
      pool,
      jobsQueue: topology.jobsQueue,
    };
    const checks = await underLoad(scenario, context);
    await waitUntilFinished(pool, load.accepted, FINISH_STALL_MS);
    const tally: ClusterTally = {
      ...(await tallyJobs(pool, load.accepted)),
      refused: load.submissions.filter((s) => s.status !== 202).length,
    };
    tallies.push(tally);
    process.stdout.write(
      `${clusterLine(cluster.nodes.length, tally, scenario.name)} refused=${tally.refused}\n`,
    );

    expect(tally.accepted).toBeGreaterThan(0);
    expect({ lost: tally.lostIds, duplicated: tally.duplicatedIds }).toEqual({
      lost: [],
      duplicated: [],
    });
    // Every input is a valid image: a failed job is a fault the pipeline let
    // through.
    expect(tally.failures).toEqual([]);
    await expectDrainedAndConsuming(cluster, topology);
    await checks?.();
  } catch (error) {
    await keepLogs(pipeline, scenario.name, 'cluster');
    throw error;
  } finally {
    await pool.end();
    await pipeline.stop();
    await deleteQueues(cluster, topology).catch(() => undefined);
  }
}

async function underLoad(scenario: ClusterScenario, context: ClusterContext) {
  context.load.start();
  try {
    await sleep(WARMUP_MS);
    const checks = await scenario.fault(context);
    await acceptedAfter(context.load, Date.now(), 'after the fault');
    await sleep(COOLDOWN_MS);
    return checks;
  } finally {
    await context.load.stop();
  }
}

/** A connection to a node that runs, for a look at the queues. */
async function inspect<T>(
  cluster: LocalCluster,
  look: (channel: import('amqplib').Channel) => Promise<T>,
): Promise<T> {
  const connection = await connect(cluster.runningNode().url);
  try {
    const channel = await connection.createChannel();
    return await look(channel);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * Every queue empty (nothing left ready or unacked), each worker and the writer
 * consuming once.
 */
async function expectDrainedAndConsuming(
  cluster: LocalCluster,
  topology: Topology,
): Promise<void> {
  const expected = {
    queues: Object.fromEntries(topology.queues.map((queue) => [queue, 0])),
    consumers: { [topology.jobsQueue]: WORKERS, [topology.eventsQueue]: 1 },
  };
  let seen: unknown;
  await waitFor(
    async () => {
      seen = await inspect(cluster, async (channel) => {
        const queues: Record<string, number> = {};
        const consumers: Record<string, number> = {};
        for (const queue of topology.queues) {
          const { messageCount, consumerCount } =
            await channel.checkQueue(queue);
          queues[queue] = messageCount;
          if (queue === topology.jobsQueue || queue === topology.eventsQueue)
            consumers[queue] = consumerCount;
        }
        return { queues, consumers };
      }).catch((error: Error) => error.message);
      return JSON.stringify(seen) === JSON.stringify(expected)
        ? true
        : undefined;
    },
    DRAIN_TIMEOUT_MS,
    'the queues to drain and every consumer to be back',
  ).catch(() => undefined);
  expect(seen).toEqual(expected);
}

async function deleteQueues(
  cluster: LocalCluster,
  topology: Topology,
): Promise<void> {
  await inspect(cluster, async (channel) => {
    for (const queue of topology.queues) await channel.deleteQueue(queue);
    await channel.deleteExchange(topology.exchange);
    await channel.deleteExchange(topology.deadLetterExchange);
  });
}

/** Starts a node that a fault left down; harmless when it runs. */
export async function restartIfDown(
  cluster: LocalCluster,
  node: ClusterNode,
): Promise<void> {
  if (!cluster.isRunning(node)) await cluster.startNode(node);
}
