import { JobLoad } from '../faults/load';
import { sumTallies } from '../faults/tally';
import { acceptedAfter, sleep } from '../faults/scenario';
import {
  ClusterTally,
  clusterLine,
  restartIfDown,
  runClusterScenario,
} from './cluster-scenario';
import {
  ClusterNode,
  LocalCluster,
  privateLayout,
} from '../support/local-rabbitmq';

/**
 * The pipeline on a three-node RabbitMQ cluster of its own (started next to the
 * machine's broker, see test/support/local-rabbitmq.ts) with quorum queues
 * replicated on all three, under a steady stream of jobs while nodes die: the
 * node leading the jobs queue killed with -9, the node the producer is
 * connected to killed with -9, and a rolling restart of all three. Jobs must
 * keep flowing while a node is down; none accepted may be lost or done twice.
 */
describe('three-node RabbitMQ cluster', () => {
  const NODES = 3;
  const SCENARIO_TIMEOUT_MS = 360_000;
  /**
   * How long a killed node stays down while jobs keep flowing, at the least.
   */
  const DOWN_MS = 3000;
  const tallies: ClusterTally[] = [];
  let cluster: LocalCluster | undefined;

  beforeAll(async () => {
    cluster = await LocalCluster.start(NODES, await privateLayout('c', NODES));
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    if (tallies.length > 0)
      process.stdout.write(`${clusterLine(NODES, sumTallies(tallies))}\n`);
  }, 120_000);

  const the = () => {
    if (!cluster) throw new Error('The cluster did not start');
    return cluster;
  };

  /**
   * Kills `node` with -9 under load, waits until jobs are accepted without it,
   * notes what `observe` says then, and brings the node back into the cluster.
   */
  async function whileKilled<T>(
    running: LocalCluster,
    load: JobLoad,
    node: ClusterNode,
    observe: () => Promise<T>,
  ): Promise<T> {
    let seen: T;
    try {
      const killedAt = Date.now();
      await running.killNode(node);
      await sleep(DOWN_MS);
      await acceptedAfter(load, killedAt, `with ${node.name} down`);
      seen = await observe();
    } finally {
      await restartIfDown(running, node);
    }
    await running.waitUntilClustered();
    return seen;
  }

  it(
    'kill -9 of the node leading the jobs queue: another node leads, jobs keep flowing, nothing lost or done twice',
    () =>
      runClusterScenario(
        the(),
        {
          name: 'leader-kill',
          fault: async ({ cluster, load, jobsQueue }) => {
            const leader = await cluster.leaderOf(jobsQueue);
            const newLeader = await whileKilled(
              cluster,
              load,
              leader,
              async () => (await cluster.leaderOf(jobsQueue)).name,
            );
            return () => expect(newLeader).not.toBe(leader.name);
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    "kill -9 of the producer's node (leading the jobs queue too): it connects to another node, answers 503 for what was not confirmed, and jobs keep flowing",
    () =>
      runClusterScenario(
        the(),
        {
          name: 'producer-node-kill',
          fault: async ({ cluster, pipeline, load, jobsQueue }) => {
            const connectionName = `${pipeline.prefix} producer`;
            const node = await cluster.nodeOfConnection(connectionName);
            // The hardest case: the node also leads the jobs queue, so the
            // producer's new channel on another node publishes while that queue
            // is still electing a leader.
            await cluster.moveLeader(jobsQueue, node);
            const movedTo = await whileKilled(
              cluster,
              load,
              node,
              async () => (await cluster.nodeOfConnection(connectionName)).name,
            );
            return () => expect(movedTo).not.toBe(node.name);
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'rolling restart of the three nodes, one at a time: jobs keep flowing throughout',
    () =>
      runClusterScenario(
        the(),
        {
          name: 'rolling-restart',
          fault: async ({ cluster, pipeline, load }) => {
            const acceptedWhileDown: Record<string, number> = {};
            for (const node of cluster.nodes) {
              // Only once every queue has all its members back may the next
              // node go.
              await cluster.waitUntilQueuesReplicated(pipeline.prefix);
              try {
                const stoppedAt = Date.now();
                await cluster.stopNode(node);
                await acceptedAfter(
                  load,
                  stoppedAt,
                  `with ${node.name} stopped`,
                );
                acceptedWhileDown[node.name] = load.acceptedSince(stoppedAt);
              } finally {
                await restartIfDown(cluster, node);
              }
            }
            await cluster.waitUntilClustered();
            return () =>
              expect(Object.keys(acceptedWhileDown)).toHaveLength(NODES);
          },
        },
        tallies,
      ),
    SCENARIO_TIMEOUT_MS,
  );
});
