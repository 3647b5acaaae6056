import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Client } from 'pg';
import { childProcesses, runningProcesses } from './worker-rss';

/** The parts of a run whose CPU is counted, in the order they are printed. */
export const CPU_GROUPS = [
  'producer',
  'workers',
  'writer',
  'rabbitmq',
  'postgres',
] as const;
export type CpuGroup = (typeof CPU_GROUPS)[number];
const LABELS: Record<CpuGroup, string> = {
  producer: 'producer',
  workers: 'workers',
  writer: 'writer',
  rabbitmq: 'RabbitMQ',
  postgres: 'PostgreSQL',
};

/**
 * CPU time (user + system, clock ticks) of each process, by pid, at one moment.
 */
export type CpuSnapshot = Map<number, number>;

export type CpuPerJob = Record<CpuGroup | 'total', number>;

/**
 * Each group's CPU between two snapshots, in milliseconds per job. A process
 * counts from its value in `before`, or from zero if it started in between (its
 * whole life belongs to the run); one gone by `after` is not counted, and a pid
 * whose ticks went down was reused by a new process, which counts from zero.
 */
export function cpuPerJob(
  before: CpuSnapshot,
  after: CpuSnapshot,
  groups: Record<CpuGroup, number[]>,
  jobs: number,
  ticksPerSecond: number,
): CpuPerJob {
  if (!Number.isInteger(jobs) || jobs <= 0)
    throw new Error(`cpuPerJob: jobs must be a positive integer, got ${jobs}`);
  if (!(ticksPerSecond > 0))
    throw new Error(
      `cpuPerJob: ticksPerSecond must be positive, got ${ticksPerSecond}`,
    );
  const result = { total: 0 } as CpuPerJob;
  const counted = new Set<number>();
  for (const group of CPU_GROUPS) {
    let ticks = 0;
    for (const pid of groups[group]) {
      if (counted.has(pid))
        throw new Error(`cpuPerJob: process ${pid} is in two groups`);
      counted.add(pid);
      const end = after.get(pid);
      if (end === undefined) continue;
      const start = before.get(pid) ?? 0;
      ticks += end >= start ? end - start : end;
    }
    result[group] = round((ticks / ticksPerSecond / jobs) * 1000);
  }
  result.total = round(
    CPU_GROUPS.reduce((sum, group) => sum + result[group], 0),
  );
  return result;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * "CPU per job: producer 4.1 ms, workers …, total T ms (sharp alone: S ms per
 * image)".
 */
export function formatCpuPerJob(
  perJob: CpuPerJob,
  sharpAloneMs: number,
): string {
  const parts = CPU_GROUPS.map(
    (group) => `${LABELS[group]} ${perJob[group].toFixed(2)} ms`,
  );
  return `CPU per job: ${parts.join(', ')}, total ${perJob.total.toFixed(2)} ms (sharp alone: ${sharpAloneMs.toFixed(2)} ms per image)`;
}

/**
 * The user and system time of a process in clock ticks (fields 14 and 15 of
 * /proc/<pid>/stat), or undefined once it is gone.
 */
export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2, the command name, may hold spaces and parentheses: the fields
    // after it start past the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

let ticksPerSecond: number | undefined;

/** How many clock ticks make a second of /proc's CPU times (CLK_TCK). */
export function clockTicksPerSecond(): number {
  return (ticksPerSecond ??= Number(
    execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(),
  ));
}

/** A process's user and system time in ms, or undefined once it is gone. */
export function cpuTimeMs(pid: number): number | undefined {
  const ticks = cpuTicks(pid);
  return ticks === undefined
    ? undefined
    : (ticks * 1000) / clockTicksPerSecond();
}

/**
 * The CPU time, in nanoseconds, of a process's main thread alone (not libuv's
 * pool nor V8's helpers), this process's by default: the scheduler's own count
 * (/proc/<pid>/task/<tid>/schedstat), finer than clock ticks.
 */
export function mainThreadCpuNs(pid = process.pid): number {
  return Number(
    readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0],
  );
}

export function snapshot(pids: Iterable<number>): CpuSnapshot {
  const result: CpuSnapshot = new Map();
  for (const pid of pids) {
    const ticks = cpuTicks(pid);
    if (ticks !== undefined) result.set(pid, ticks);
  }
  return result;
}

/** A process and all its descendants (Linux /proc). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const { pid, parent } of runningProcesses())
    children.set(parent, [...(children.get(parent) ?? []), pid]);
  const tree = [root];
  for (let i = 0; i < tree.length; i++)
    tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

/**
 * The process listening on a TCP port of this machine's network namespace: the
 * broker or the database server the bench talks to, rather than one of the same
 * name in a container.
 */
export function listenerPid(port: number): number {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 9 is the
      // socket's inode.
      if (
        fields.length > 9 &&
        parseInt(fields[1].split(':')[1], 16) === port &&
        fields[3] === '0A'
      )
        inodes.add(`socket:[${fields[9]}]`);
    }
  }
  if (inodes.size === 0)
    throw new Error(`no process listens on TCP port ${port}`);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${entry}/fd/${fd}`)))
          return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  throw new Error(
    `the process listening on TCP port ${port} is not visible in /proc (run the bench as its user or root)`,
  );
}

export interface PostgresActivity {
  pid: number;
  datname: string | null;
}

/**
 * The server's processes that serve the bench: the postmaster, its background
 * processes (no database) and the backends of the bench's own database, but not
 * the bench's own polling connection nor the backends of the server's other
 * tenants.
 */
export function postgresPids(
  serverTree: number[],
  activity: PostgresActivity[],
  database: string,
  exclude: number[],
): number[] {
  const other = new Set(
    activity
      .filter((row) => row.datname !== null && row.datname !== database)
      .map((row) => row.pid),
  );
  for (const pid of exclude) other.add(pid);
  return serverTree.filter((pid) => !other.has(pid));
}

/**
 * Counts the CPU of the pipeline's processes, the broker's and the database
 * server's over a phase of a run.
 */
export class CpuMeter {
  private before: CpuSnapshot = new Map();
  private transactionsBefore = 0;

  constructor(
    private readonly launcherPid: number,
    private readonly db: Client,
    private readonly database: string,
  ) {}

  private async groups(): Promise<Record<CpuGroup, number[]>> {
    const { rows } = await this.db.query<PostgresActivity & { own: number }>(
      'SELECT pid, datname, pg_backend_pid() AS own FROM pg_stat_activity',
    );
    return {
      producer: childProcesses(this.launcherPid, 'producer').flatMap(
        processTree,
      ),
      workers: childProcesses(this.launcherPid, 'image-worker').flatMap(
        processTree,
      ),
      writer: childProcesses(this.launcherPid, 'results-writer').flatMap(
        processTree,
      ),
      rabbitmq: processTree(listenerPid(5672)),
      postgres: postgresPids(
        processTree(listenerPid(5432)),
        rows,
        this.database,
        rows.length > 0 ? [rows[0].own] : [],
      ),
    };
  }

  /**
   * The bench database's committed and rolled back transactions so far
   * (pg_stat_database).
   */
  private async transactions(): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(
      'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1',
      [this.database],
    );
    return Number(rows[0].n);
  }

  async start(): Promise<void> {
    this.before = snapshot(Object.values(await this.groups()).flat());
    this.transactionsBefore = await this.transactions();
  }

  /**
   * CPU per job since start(), and the database transactions per job but the
   * bench's own (`ownQueries`, each one transaction, and the meter's two).
   */
  async stop(
    jobs: number,
    ownQueries: number,
  ): Promise<{ cpuPerJobMs: CpuPerJob; transactionsPerJob: number }> {
    const groups = await this.groups();
    const cpuPerJobMs = cpuPerJob(
      this.before,
      snapshot(Object.values(groups).flat()),
      groups,
      jobs,
      clockTicksPerSecond(),
    );
    // A busy backend reports its counts at most once a second, an idle one ten
    // seconds after its last report (PostgreSQL's PGSTAT_IDLE_INTERVAL): wait
    // for the last of them.
    await new Promise((r) => setTimeout(r, 11_000));
    const transactions =
      (await this.transactions()) - this.transactionsBefore - ownQueries - 2;
    return {
      cpuPerJobMs,
      transactionsPerJob: Math.round((transactions / jobs) * 100) / 100,
    };
  }
}

/**
 * The pipeline's processes started by the launcher, by pid: producer, worker-1,
 * …, writer.
 */
export function pipelineRoles(launcherPid: number): Map<number, string> {
  const roles = new Map<number, string>();
  for (const pid of childProcesses(launcherPid, 'producer'))
    roles.set(pid, 'producer');
  childProcesses(launcherPid, 'image-worker').forEach((pid, i) =>
    roles.set(pid, `worker-${i + 1}`),
  );
  for (const pid of childProcesses(launcherPid, 'results-writer'))
    roles.set(pid, 'writer');
  return roles;
}
