import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  mkdir,
  open,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { freePortBlock, portIsFree } from './ports';
import { makeOwnedFolder, orphanedFolders } from './owned-folders';

const run = promisify(execFile);

/**
 * A RabbitMQ cluster of its own on this machine, next to any other broker (the
 * machine's, or another test run's): nodes `<prefix>1@localhost`, … on free
 * loopback ports, each with its own data and log folders under one work folder,
 * no plugins unless asked, and an Erlang cookie of their own. The first node
 * starts alone, the others join it (`stop_app`, `join_cluster`, `start_app`).
 * `stop` halts every node and removes the folder; nodes left behind by a test
 * process that died are halted by the next `privateLayout`. With `tls`, the
 * nodes take AMQP over TLS only (amqps://, on the same ports).
 */

/**
 * Where one of RabbitMQ's scripts is, if it is installed: its own folder first
 * (the Debian package's `/usr/sbin` wrappers switch to the rabbitmq user and
 * its cookie), then PATH.
 */
export function rabbitmqScript(name: string): string | undefined {
  const folders = [
    '/usr/lib/rabbitmq/bin',
    ...(process.env.PATH ?? '').split(delimiter),
  ];
  return folders
    .map((folder) => join(folder, name))
    .find((path) => existsSync(path));
}
const script = (name: string) => rabbitmqScript(name) ?? name;
const HOST = 'localhost';
const START_TIMEOUT_MS = 90_000;

/**
 * Where the nodes are: names, ports and folder distinct from every other
 * LocalCluster's that may run at the same time.
 */
export interface LocalClusterLayout {
  /** Node names are `<namePrefix><index>@localhost`. */
  namePrefix: string;
  firstAmqpPort: number;
  firstDistPort: number;
  workDir: string;
  /** The certificate and key the nodes serve AMQP over TLS with. */
  tls?: { cert: string; key: string; ca: string };
  /**
   * With it, the management plugin runs, its HTTP API on this port (the first
   * node's; the next ones count up).
   */
  firstManagementPort?: number;
}

const WORK_DIR_PREFIX = 'pipeline-rabbitmq-';

/**
 * Names, ports and a folder for `size` nodes that no other broker on this
 * machine uses: a fresh work folder, a node-name prefix made from it, and
 * blocks of free ports. `kind` (letters) makes the names readable in `ps`.
 */
export async function privateLayout(
  kind: string,
  size: number,
  options: Pick<LocalClusterLayout, 'tls'> & { management?: boolean } = {},
): Promise<LocalClusterLayout> {
  await haltOrphanedNodes();
  const workDir = await makeOwnedFolder(`${WORK_DIR_PREFIX}${kind}-`);
  const id = workDir
    .slice(-6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x');
  return {
    namePrefix: `rabbit-${kind}-${id}-`,
    firstAmqpPort: await freePortBlock(size),
    firstDistPort: await freePortBlock(size),
    firstManagementPort: options.management
      ? await freePortBlock(size)
      : undefined,
    workDir,
    tls: options.tls,
  };
}

/**
 * Nodes whose test process died before stopping them would hold their ports for
 * good: they are halted, their folders removed.
 */
async function haltOrphanedNodes(): Promise<void> {
  for (const workDir of await orphanedFolders(WORK_DIR_PREFIX)) {
    const env = {
      ...process.env,
      HOME: workDir,
      RABBITMQ_CONF_ENV_FILE: join(workDir, 'rabbitmq-env.conf'),
      ERL_EPMD_ADDRESS: '127.0.0.1',
    };
    const nodes = (await readdir(workDir).catch(() => [] as string[])).filter(
      (name) => name.startsWith('node-'),
    );
    for (const folder of nodes) {
      const name = await readFile(join(workDir, folder, 'name'), 'utf8').catch(
        () => undefined,
      );
      if (name)
        await run('setsid', [script('rabbitmqctl'), '-n', name, '-q', 'stop'], {
          env,
          timeout: 30_000,
        }).catch(() => undefined);
    }
    await rm(workDir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ClusterNode {
  /** 1-based. */
  index: number;
  /** Erlang node name, e.g. rabbit-c1@localhost. */
  name: string;
  amqpPort: number;
  distPort: number;
  dir: string;
  /** The node's URL, for AMQP_URL. */
  url: string;
  /** The script started for the node (its shell stays until the node stops). */
  child?: ChildProcess;
  /** The OS pid of the node's Erlang VM while it runs. */
  pid?: number;
}

export class LocalCluster {
  readonly nodes: ClusterNode[];
  private readonly env: NodeJS.ProcessEnv;
  readonly workDir: string;

  private constructor(
    size: number,
    private readonly layout: LocalClusterLayout,
  ) {
    this.workDir = layout.workDir;
    this.nodes = Array.from({ length: size }, (_, i) => {
      const index = i + 1;
      const amqpPort = layout.firstAmqpPort + i;
      return {
        index,
        name: `${layout.namePrefix}${index}@${HOST}`,
        amqpPort,
        distPort: layout.firstDistPort + i,
        dir: join(layout.workDir, `node-${index}`),
        // TLS needs the name the certificate is for; guest may log in over
        // loopback either way.
        url: layout.tls
          ? `amqps://guest:guest@localhost:${amqpPort}`
          : `amqp://guest:guest@127.0.0.1:${amqpPort}`,
      };
    });
    // The CLI tools and the nodes share a home (the cookie's folder) and an
    // empty rabbitmq-env.conf in place of the machine's, which names the
    // machine's node.
    this.env = {
      ...process.env,
      HOME: layout.workDir,
      RABBITMQ_CONF_ENV_FILE: join(layout.workDir, 'rabbitmq-env.conf'),
      ERL_EPMD_ADDRESS: '127.0.0.1',
    };
  }

  /**
   * Starts a cluster of `size` nodes and waits until all of them run,
   * clustered.
   */
  static async start(
    size: number,
    layout: LocalClusterLayout,
  ): Promise<LocalCluster> {
    const cluster = new LocalCluster(size, layout);
    try {
      await cluster.prepare();
      await Promise.all(cluster.nodes.map((node) => cluster.startNode(node)));
      for (const node of cluster.nodes.slice(1)) {
        await cluster.ctl(node, ['stop_app']);
        await cluster.ctl(node, ['join_cluster', cluster.nodes[0].name]);
        await cluster.ctl(node, ['start_app']);
      }
      await cluster.waitUntilClustered();
      return cluster;
    } catch (error) {
      await cluster.stop().catch(() => undefined);
      throw error;
    }
  }

  /** AMQP_URL for the pipeline: every node, comma-separated. */
  get amqpUrl(): string {
    return this.nodes.map((node) => node.url).join(',');
  }

  node(name: string): ClusterNode {
    const node = this.nodes.find(
      (candidate) =>
        candidate.name === name || candidate.name.startsWith(`${name}@`),
    );
    if (!node) throw new Error(`No node ${name} in the cluster`);
    return node;
  }

  isRunning(node: ClusterNode): boolean {
    return (
      node.child !== undefined &&
      node.child.exitCode === null &&
      node.child.signalCode === null
    );
  }

  /** A node that runs now, other than `except`, to ask about the cluster. */
  runningNode(except?: ClusterNode): ClusterNode {
    const node = this.nodes.find(
      (candidate) => candidate !== except && this.isRunning(candidate),
    );
    if (!node) throw new Error('No node of the cluster is running');
    return node;
  }

  /** rabbitmqctl against one node; resolves with what it printed. */
  async ctl(
    node: ClusterNode,
    args: string[],
    tool = 'rabbitmqctl',
  ): Promise<string> {
    const { stdout } = await run(
      'setsid',
      [script(tool), '-n', node.name, '-q', ...args],
      { env: this.env, encoding: 'utf8', timeout: 60_000 },
    );
    return stdout;
  }

  /**
   * Starts a node's VM (anew, or again with its data after a stop or a kill)
   * and waits until RabbitMQ runs on it.
   */
  async startNode(node: ClusterNode): Promise<void> {
    if (this.isRunning(node))
      throw new Error(`${node.name} is already running`);
    await mkdir(join(node.dir, 'log'), { recursive: true });
    const log = await open(join(node.dir, 'console.log'), 'a');
    const child = spawn(script('rabbitmq-server'), [], {
      env: {
        ...this.env,
        RABBITMQ_NODENAME: node.name,
        RABBITMQ_DIST_PORT: String(node.distPort),
        RABBITMQ_CONFIG_FILE: join(node.dir, 'rabbitmq.conf'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(this.workDir, 'enabled_plugins'),
        RABBITMQ_MNESIA_BASE: join(node.dir, 'mnesia'),
        RABBITMQ_LOG_BASE: join(node.dir, 'log'),
        RABBITMQ_PID_FILE: join(node.dir, 'pid'),
        // No scheduler busy-waiting: an idle node's schedulers spin for a
        // while before they sleep, CPU the apps under test then lack on a
        // machine of few cores.
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:
          '-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none',
      },
      stdio: ['ignore', log.fd, log.fd],
      // A session of its own, as a service has: with the kernel's autogroup
      // scheduling, a node in the tests' session would share one CPU slice with
      // the apps under test (sharp saturating every core) and answer in tens of
      // seconds. The CLI calls run in sessions of their own for the same reason
      // (`setsid`).
      detached: true,
    });
    await log.close();
    node.child = child;
    node.pid = undefined;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (!this.isRunning(node))
        throw new Error(
          `${node.name} exited while starting; see ${join(node.dir, 'console.log')}`,
        );
      const started = await this.ctl(node, [
        'await_startup',
        '--timeout',
        '30',
      ]).then(
        () => true,
        () => false,
      );
      if (started) break;
      if (Date.now() > deadline)
        throw new Error(
          `${node.name} did not start within ${START_TIMEOUT_MS} ms; see ${node.dir}`,
        );
      await sleep(500);
    }
    node.pid = Number(
      (await this.ctl(node, ['eval', 'list_to_integer(os:getpid()).'])).trim(),
    );
  }

  /**
   * `kill -9` of the node's VM: no goodbye to its peers or clients. Resolves
   * once it is gone.
   */
  async killNode(node: ClusterNode): Promise<void> {
    if (!node.pid || !this.isRunning(node))
      throw new Error(`${node.name} is not running`);
    process.kill(node.pid, 'SIGKILL');
    await this.exited(node);
  }

  /**
   * A clean stop of the whole node (`rabbitmqctl stop`), as a rolling restart
   * does.
   */
  async stopNode(node: ClusterNode): Promise<void> {
    await this.ctl(node, ['stop']);
    await this.exited(node);
  }

  /**
   * Waits until every node runs and sees all the others as running cluster
   * members.
   */
  async waitUntilClustered(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const all = this.nodes.map((node) => node.name).sort();
    for (;;) {
      const views = await Promise.all(
        this.nodes.map((node) =>
          this.ctl(node, [
            'eval',
            'lists:sort(rabbit_nodes:all_running()).',
          ]).then(
            (out) =>
              [...out.matchAll(/'([^']+)'/g)].map((match) => match[1]).sort(),
            () => [],
          ),
        ),
      );
      if (views.every((view) => JSON.stringify(view) === JSON.stringify(all)))
        return;
      if (Date.now() > deadline)
        throw new Error(
          `The cluster did not form within ${timeoutMs} ms: ${JSON.stringify(views)}`,
        );
      await sleep(1000);
    }
  }

  /** The node that leads a quorum queue now. */
  async leaderOf(queue: string): Promise<ClusterNode> {
    const out = await this.ctl(this.runningNode(), [
      'list_queues',
      '--no-table-headers',
      'name',
      'leader',
    ]);
    for (const line of out.split('\n')) {
      const [name, leader] = line.trim().split(/\s+/);
      if (name === queue && leader) return this.node(leader);
    }
    throw new Error(`No leader found for ${queue}:\n${out}`);
  }

  /**
   * Moves the leadership of a quorum queue (of the default vhost) to `node`, as
   * maintenance mode does, and waits until the broker reports it there.
   */
  async moveLeader(
    queue: string,
    node: ClusterNode,
    timeoutMs = 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const expression = `{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, <<"${queue}">>)), rabbit_quorum_queue:transfer_leadership(Q, '${node.name}').`;
    for (;;) {
      if ((await this.leaderOf(queue)).name === node.name) return;
      await this.ctl(node, ['eval', expression]).catch(() => undefined);
      if (Date.now() > deadline)
        throw new Error(
          `The leadership of ${queue} did not move to ${node.name}`,
        );
      await sleep(1000);
    }
  }

  /**
   * Members of each quorum queue whose name starts with `prefix`, and those of
   * them online.
   */
  async members(
    prefix: string,
  ): Promise<Record<string, { members: string[]; online: string[] }>> {
    const out = await this.ctl(this.runningNode(), [
      'list_queues',
      '--no-table-headers',
      'name',
      'members',
      'online',
    ]);
    const result: Record<string, { members: string[]; online: string[] }> = {};
    for (const line of out.split('\n')) {
      const [name, members, online] = line.trim().split('\t');
      if (!name?.startsWith(prefix)) continue;
      const names = (list = '') =>
        this.nodes
          .map((node) => node.name)
          .filter((node) => list.includes(node))
          .sort();
      result[name] = { members: names(members), online: names(online) };
    }
    return result;
  }

  /**
   * Waits until every member of every queue of `prefix` is online, so that
   * losing any one node leaves each queue a majority.
   */
  async waitUntilQueuesReplicated(
    prefix: string,
    timeoutMs = 60_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const queues = await this.members(prefix).catch(() => ({}));
      const complete = Object.values(queues).every(
        ({ members, online }) =>
          members.length === this.nodes.length &&
          online.length === members.length,
      );
      if (Object.keys(queues).length > 0 && complete) return;
      if (Date.now() > deadline)
        throw new Error(
          `The queues of ${prefix} are not fully replicated: ${JSON.stringify(queues)}`,
        );
      await sleep(1000);
    }
  }

  /**
   * The node that the connection with this client-given name is connected to
   * (by the AMQP port it reached).
   */
  async nodeOfConnection(connectionName: string): Promise<ClusterNode> {
    const out = await this.ctl(this.runningNode(), [
      'list_connections',
      '--no-table-headers',
      'port',
      'client_properties',
    ]);
    for (const line of out.split('\n')) {
      const name = /\{"connection_name","([^"]*)"\}/.exec(line)?.[1];
      if (name === connectionName) {
        const port = Number(line.trim().split(/\s+/)[0]);
        const node = this.nodes.find(
          (candidate) => candidate.amqpPort === port,
        );
        if (node) return node;
      }
    }
    throw new Error(`No connection named ${connectionName}:\n${out}`);
  }

  /**
   * Halts every node (`kill -9` for one that does not stop) and removes the
   * work folder.
   */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        if (!this.isRunning(node)) return;
        await this.ctl(node, ['stop']).catch(() => undefined);
        let timer: NodeJS.Timeout | undefined;
        const gone = await Promise.race([
          this.exited(node).then(() => true),
          new Promise<boolean>(
            (resolve) => (timer = setTimeout(() => resolve(false), 15_000)),
          ),
        ]);
        clearTimeout(timer);
        if (!gone && this.isRunning(node)) {
          if (node.pid) process.kill(node.pid, 'SIGKILL');
          node.child?.kill('SIGKILL');
          await this.exited(node);
        }
      }),
    );
    await rm(this.workDir, { recursive: true, force: true });
  }

  /** The node's management API port, with the layout's firstManagementPort. */
  managementPort(node: ClusterNode): number {
    return (this.layout.firstManagementPort ?? 0) + node.index - 1;
  }

  /** Resolves once the node's script has exited (its VM gone with it). */
  private exited(node: ClusterNode): Promise<void> {
    const child = node.child;
    if (!child || child.exitCode !== null || child.signalCode !== null)
      return Promise.resolve();
    return new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /**
   * The work folder: cookie, an empty env file, no plugins, and each node's
   * config.
   */
  private async prepare(): Promise<void> {
    await mkdir(this.workDir, { recursive: true });
    const cookie = join(this.workDir, '.erlang.cookie');
    await writeFile(cookie, randomBytes(24).toString('hex'));
    await chmod(cookie, 0o400);
    await writeFile(join(this.workDir, 'rabbitmq-env.conf'), '');
    await writeFile(
      join(this.workDir, 'enabled_plugins'),
      this.layout.firstManagementPort ? '[rabbitmq_management].\n' : '[].\n',
    );
    for (const node of this.nodes) {
      for (const port of [node.amqpPort, node.distPort]) {
        if (!(await portIsFree(port)))
          throw new Error(`Port ${port} (for ${node.name}) is taken`);
      }
      await mkdir(node.dir, { recursive: true });
      await writeFile(join(node.dir, 'name'), node.name);
      await writeFile(
        join(node.dir, 'rabbitmq.conf'),
        [
          ...(this.layout.tls
            ? [
                'listeners.tcp = none',
                `listeners.ssl.1 = 127.0.0.1:${node.amqpPort}`,
                `ssl_options.certfile = ${this.layout.tls.cert}`,
                `ssl_options.keyfile = ${this.layout.tls.key}`,
                `ssl_options.cacertfile = ${this.layout.tls.ca}`,
                'ssl_options.verify = verify_none',
                'ssl_options.fail_if_no_peer_cert = false',
              ]
            : [`listeners.tcp.1 = 127.0.0.1:${node.amqpPort}`]),
          ...(this.layout.firstManagementPort
            ? [
                'management.tcp.ip = 127.0.0.1',
                `management.tcp.port = ${this.managementPort(node)}`,
              ]
            : []),
          // Statistics (list_queues' counts) every second rather than every
          // five.
          'collect_statistics_interval = 1000',
          'log.console = false',
          'log.file.level = info',
          '',
        ].join('\n'),
      );
    }
  }
}
