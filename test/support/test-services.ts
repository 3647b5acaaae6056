import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stopSharedCeph } from './ceph-rgw';
import { LocalCluster, privateLayout, rabbitmqScript } from './local-rabbitmq';
import { freePortBlock } from './ports';
import { makeOwnedFolder, orphanedFolders } from './owned-folders';
import {
  postgresBinaries,
  postgresControl,
  PrivatePostgres,
  startPostgres,
} from './private-postgres';

/**
 * The RabbitMQ node and PostgreSQL server a test run starts for itself (Jest's
 * global setup) and removes at its end (global teardown): temporary folders,
 * free ports, nothing shared with the machine's own servers or another run's.
 * The tests find them through environment variables, which the apps they spawn
 * inherit too. Set TEST_AMQP_URL and TEST_DATABASE_BASE_URL to use servers of
 * your choosing instead; the fault suite, which stops and starts its servers,
 * then refuses to run.
 */

const run = promisify(execFile);

interface RunningServices {
  /** Holds what the suites start lazily, such as the shared Ceph's state. */
  runDir?: string;
  broker?: LocalCluster;
  postgres?: PrivatePostgres;
  postgresDir?: string;
}

// Global setup and teardown run in Jest's own process, outside the tests'
// sandboxes; this holds what setup started until teardown, and makes a second
// project's setup a no-op.
const state = globalThis as typeof globalThis & {
  pipelineTestServices?: RunningServices;
};

export async function startTestServices(): Promise<void> {
  if (state.pipelineTestServices) return;
  if (process.env.TEST_AMQP_URL && process.env.TEST_DATABASE_BASE_URL) {
    state.pipelineTestServices = {};
    return;
  }
  const missing = [
    !rabbitmqScript('rabbitmq-server') && 'rabbitmq-server',
    !postgresBinaries() && 'postgresql',
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new Error(
      `These tests start RabbitMQ and PostgreSQL of their own from the installed servers: install ${missing.join(' and ')} (apt-get install ${missing.join(' ')}), or set TEST_AMQP_URL and TEST_DATABASE_BASE_URL to servers they may use`,
    );
  }
  const services: RunningServices = {};
  state.pipelineTestServices = services;
  try {
    const [broker, postgres] = await Promise.all([
      startBroker(),
      startDatabase(services),
    ]);
    services.broker = broker;
    services.postgres = postgres;
  } catch (error) {
    await stopTestServices();
    throw error;
  }
  for (const orphan of await orphanedFolders(RUN_DIR_PREFIX)) {
    await stopSharedCeph(join(orphan, 'ceph-rgw.json'));
    await rm(orphan, { recursive: true, force: true });
  }
  services.runDir = await makeOwnedFolder(RUN_DIR_PREFIX);
  const node = services.broker.nodes[0];
  Object.assign(process.env, {
    TEST_CEPH_STATE: join(services.runDir, 'ceph-rgw.json'),
    TEST_AMQP_URL: node.url,
    TEST_RABBITMQ_NODE: node.name,
    TEST_RABBITMQ_DIR: services.broker.workDir,
    TEST_DATABASE_BASE_URL: services.postgres.baseUrl,
    TEST_PG_DIR: services.postgresDir,
  });
}

export async function stopTestServices(): Promise<void> {
  const services = state.pipelineTestServices;
  state.pipelineTestServices = undefined;
  if (!services) return;
  await Promise.all([
    services.broker?.stop(),
    services.postgres?.stop().catch(() => undefined),
    services.runDir && stopSharedCeph(join(services.runDir, 'ceph-rgw.json')),
  ]);
  if (services.runDir)
    await rm(services.runDir, { recursive: true, force: true });
  if (services.postgresDir)
    await rm(services.postgresDir, { recursive: true, force: true });
}

async function startBroker(): Promise<LocalCluster> {
  return LocalCluster.start(1, await privateLayout('test', 1));
}

const POSTGRES_DIR_PREFIX = 'pipeline-postgres-';
const RUN_DIR_PREFIX = 'pipeline-test-run-';

async function startDatabase(
  services: RunningServices,
): Promise<PrivatePostgres> {
  await stopOrphanedDatabases();
  services.postgresDir = await makeOwnedFolder(POSTGRES_DIR_PREFIX);
  // the server may run as the postgres user
  await chmod(services.postgresDir, 0o755);
  return startPostgres(services.postgresDir, await freePortBlock());
}

/**
 * Servers whose test run died before its teardown would run for good: they are
 * stopped, their folders removed.
 */
async function stopOrphanedDatabases(): Promise<void> {
  for (const dir of await orphanedFolders(POSTGRES_DIR_PREFIX)) {
    if (existsSync(join(dir, 'data', 'postmaster.pid')))
      await postgresControl(dir)
        .stop()
        .catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * How to run a RabbitMQ CLI tool against the run's broker: its node, with its
 * cookie.
 */
function brokerTool(
  tool: string,
  args: string[],
): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  const node = process.env.TEST_RABBITMQ_NODE;
  const dir = process.env.TEST_RABBITMQ_DIR;
  if (!node || !dir) {
    throw new Error(
      `This test runs ${tool} against its broker, but TEST_AMQP_URL names one the run did not start; unset TEST_AMQP_URL and TEST_DATABASE_BASE_URL`,
    );
  }
  const env = {
    ...process.env,
    HOME: dir,
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  return {
    file: rabbitmqScript(tool) ?? tool,
    args: ['-n', node, '-q', ...args],
    env,
  };
}

/** rabbitmqctl against the run's broker, synchronously. */
export function testBrokerCtlSync(args: string[]): string {
  const command = brokerTool('rabbitmqctl', args);
  return execFileSync('setsid', [command.file, ...command.args], {
    env: command.env,
    encoding: 'utf8',
  });
}

/**
 * rabbitmqctl against the run's broker: for tests whose event loop must keep
 * turning meanwhile.
 */
export async function testBrokerCtl(args: string[]): Promise<string> {
  const command = brokerTool('rabbitmqctl', args);
  // setsid: a session of its own, as the broker's (see LocalCluster.startNode),
  // not starved by the apps under test.
  return (
    await run('setsid', [command.file, ...command.args], {
      env: command.env,
      encoding: 'utf8',
      timeout: 60_000,
    })
  ).stdout;
}

/**
 * The run's PostgreSQL server, to stop and start (the fault suite); refuses one
 * the run did not start.
 */
export function testPostgres(): Pick<PrivatePostgres, 'start' | 'stop'> {
  const dir = process.env.TEST_PG_DIR;
  if (!dir || !existsSync(dir)) {
    throw new Error(
      'This test stops and starts its PostgreSQL server, but TEST_DATABASE_BASE_URL names one the run did not start; unset TEST_AMQP_URL and TEST_DATABASE_BASE_URL',
    );
  }
  return postgresControl(dir);
}
