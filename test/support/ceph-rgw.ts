import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Whether the Ceph daemons are installed
 * (`apt-get install ceph-mon ceph-osd radosgw ceph-common`).
 */
export async function cephInstalled(): Promise<boolean> {
  try {
    await Promise.all(
      [
        'ceph-mon',
        'ceph-osd',
        'radosgw',
        'ceph',
        'ceph-authtool',
        'monmaptool',
        'radosgw-admin',
      ].map((tool) => run('sh', ['-c', `command -v ${tool}`])),
    );
    return true;
  } catch {
    return false;
  }
}

/** A port nothing listens on now, from the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RgwSettings {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

/**
 * A throwaway single-node Ceph cluster of its own (one monitor, one OSD keeping
 * its objects in memory, one RADOS gateway answering S3 on loopback), all under
 * a temp folder, on free ports: the S3 server the object-storage tests prove
 * the store against. Takes about 15 s to start. Needs root (the daemons'
 * defaults) and the Debian packages ceph-mon, ceph-osd, radosgw and ceph-common
 * (16.2 on bookworm). cephx stays on: with `auth … = none` the `ceph` tool
 * hangs.
 */
export class CephRgw {
  private mon?: ChildProcess;
  private osd?: ChildProcess;
  private rgw?: ChildProcess;
  private stopped = false;

  private constructor(
    readonly dir: string,
    private readonly monPort: number,
    readonly rgwPort: number,
    readonly s3: RgwSettings,
    /** The run's shared state file, when this is the run's one cluster. */
    private readonly sharedState?: string,
  ) {}

  /**
   * The test run's one Ceph: started by the first suite that asks, found by
   * the next ones through a file the global setup names (TEST_CEPH_STATE),
   * and stopped by the global teardown (stopSharedCeph); stop() leaves it
   * running. Each suite keeps to a bucket of its own. Without a global
   * setup, a cluster of the caller's own.
   */
  static async shared(): Promise<CephRgw> {
    const statePath = process.env.TEST_CEPH_STATE;
    if (!statePath) return CephRgw.start();
    let state = await readSharedState(statePath);
    if (!state) {
      const started = await CephRgw.start();
      state = {
        dir: started.dir,
        monPort: started.monPort,
        rgwPort: started.rgwPort,
        s3: started.s3,
        pids: {
          mon: started.mon?.pid,
          osd: started.osd?.pid,
          rgw: started.rgw?.pid,
        },
      };
      await writeFile(statePath, JSON.stringify(state));
    }
    const { dir, monPort, rgwPort, s3 } = state;
    return new CephRgw(dir, monPort, rgwPort, s3, statePath);
  }

  static async start(): Promise<CephRgw> {
    const dir = await mkdtemp(join(tmpdir(), 'ceph-rgw-'));
    const [monPort, rgwPort] = [await freePort(), await freePort()];
    const s3 = {
      endpoint: `http://127.0.0.1:${rgwPort}`,
      accessKeyId: `TEST${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(20).toString('base64url'),
      region: 'us-east-1',
    };
    const cluster = new CephRgw(dir, monPort, rgwPort, s3);
    try {
      await cluster.bootstrap();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  private get conf(): string {
    return join(this.dir, 'ceph.conf');
  }

  private async bootstrap(): Promise<void> {
    const d = this.dir;
    for (const sub of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw'])
      await mkdir(join(d, sub), { recursive: true });
    const fsid = randomUUID();
    await writeFile(
      this.conf,
      `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${this.monPort}
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = ${d}/admin.keyring
run dir = ${d}/run
admin socket = ${d}/run/$name.asok
log file = ${d}/log/$name.log
pid file = ${d}/run/$name.pid
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon data avail warn = 1
ms bind msgr1 = false
[mon]
mon data = ${d}/mon/$cluster-$id
[osd]
osd data = ${d}/osd/$cluster-$id
osd objectstore = memstore
keyring = ${d}/osd/$cluster-$id/keyring
[client.rgw.test]
keyring = ${d}/rgw.keyring
rgw frontends = beast endpoint=127.0.0.1:${this.rgwPort}
rgw data = ${d}/rgw
`,
    );
    const authtool = (...args: string[]) => run('ceph-authtool', args);
    await authtool(
      '--create-keyring',
      `${d}/mon.keyring`,
      '--gen-key',
      '-n',
      'mon.',
      '--cap',
      'mon',
      'allow *',
    );
    await authtool(
      '--create-keyring',
      `${d}/admin.keyring`,
      '--gen-key',
      '-n',
      'client.admin',
      '--cap',
      'mon',
      'allow *',
      '--cap',
      'osd',
      'allow *',
      '--cap',
      'mgr',
      'allow *',
    );
    await authtool(
      '--create-keyring',
      `${d}/osd/ceph-0/keyring`,
      '--gen-key',
      '-n',
      'osd.0',
      '--cap',
      'mon',
      'allow profile osd',
      '--cap',
      'osd',
      'allow *',
      '--cap',
      'mgr',
      'allow profile osd',
    );
    await authtool(
      '--create-keyring',
      `${d}/rgw.keyring`,
      '--gen-key',
      '-n',
      'client.rgw.test',
      '--cap',
      'mon',
      'allow rw',
      '--cap',
      'osd',
      'allow rwx',
    );
    for (const keyring of [
      'admin.keyring',
      'osd/ceph-0/keyring',
      'rgw.keyring',
    ])
      await authtool(`${d}/mon.keyring`, '--import-keyring', `${d}/${keyring}`);
    await run('monmaptool', [
      '--create',
      '--addv',
      'a',
      `[v2:127.0.0.1:${this.monPort}]`,
      '--fsid',
      fsid,
      `${d}/monmap`,
    ]);
    await run('ceph-mon', [
      '-c',
      this.conf,
      '--mkfs',
      '-i',
      'a',
      '--monmap',
      `${d}/monmap`,
      '--keyring',
      `${d}/mon.keyring`,
    ]);
    this.mon = this.daemon('ceph-mon', ['-i', 'a']);
    await this.ceph('osd', 'create');
    await run('ceph-osd', ['-c', this.conf, '-i', '0', '--mkfs']);
    await this.ceph(
      'osd',
      'crush',
      'add',
      'osd.0',
      '1',
      'root=default',
      'host=localhost',
    );
    this.osd = this.daemon('ceph-osd', ['-i', '0']);
    await this.until(
      'the OSD is up',
      async () => (await this.ceph('osd', 'stat')).includes('1 up'),
      60_000,
    );
    await this.startGateway();
    await run('radosgw-admin', [
      '-c',
      this.conf,
      '-n',
      'client.admin',
      'user',
      'create',
      '--uid',
      'pipeline-test',
      '--display-name',
      'pipeline tests',
      '--access-key',
      this.s3.accessKeyId,
      '--secret',
      this.s3.secretAccessKey,
    ]);
  }

  /**
   * A daemon in the foreground, as a child of this process (so that it can be
   * killed by its pid).
   */
  private daemon(command: string, args: string[]): ChildProcess {
    const child = spawn(command, ['-c', this.conf, '-f', ...args], {
      stdio: 'ignore',
    });
    child.on('error', () => undefined);
    // A test process that ends without stop() takes its daemons with it.
    const orphaned = () => child.kill('SIGKILL');
    process.once('exit', orphaned);
    child.once('exit', () => process.off('exit', orphaned));
    return child;
  }

  private async ceph(...args: string[]): Promise<string> {
    const { stdout } = await run(
      'ceph',
      ['-c', this.conf, '--connect-timeout', '20', ...args],
      { timeout: 30_000 },
    );
    return stdout;
  }

  private async until(
    what: string,
    check: () => Promise<boolean>,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(
          `Ceph test cluster: timed out after ${timeoutMs} ms waiting until ${what} (logs in ${this.dir}/log)`,
        );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Starts the gateway and waits until it answers S3. */
  async startGateway(): Promise<void> {
    this.rgw = this.daemon('radosgw', ['-n', 'client.rgw.test']);
    await this.recordShared({ rgw: this.rgw.pid });
    await this.until(
      'the gateway answers',
      async () =>
        (await fetch(this.s3.endpoint, { signal: AbortSignal.timeout(2000) }))
          .status < 500,
      120_000,
    );
  }

  /**
   * Kills the gateway at once (SIGKILL): connections drop, new ones are refused
   * until it is started again.
   */
  async killGateway(): Promise<void> {
    if (this.rgw) await kill(this.rgw);
    else if (this.sharedState)
      await killPid((await readSharedState(this.sharedState))?.pids.rgw);
    this.rgw = undefined;
    await this.recordShared({ rgw: undefined });
  }

  /** Which daemons run now, for the suite that stops the shared cluster. */
  private async recordShared(pids: Partial<DaemonPids>): Promise<void> {
    if (!this.sharedState) return;
    const state = await readSharedState(this.sharedState);
    if (!state) return;
    state.pids = { ...state.pids, ...pids };
    await writeFile(this.sharedState, JSON.stringify(state));
  }

  async stop(): Promise<void> {
    if (this.stopped || this.sharedState) return;
    this.stopped = true;
    await kill(this.rgw);
    await kill(this.osd);
    await kill(this.mon);
    await rm(this.dir, { recursive: true, force: true });
  }
}

interface DaemonPids {
  mon?: number;
  osd?: number;
  rgw?: number;
}

interface SharedCephState {
  dir: string;
  monPort: number;
  rgwPort: number;
  s3: RgwSettings;
  pids: DaemonPids;
}

function readSharedState(path: string): Promise<SharedCephState | undefined> {
  return readFile(path, 'utf8').then(
    (text) => JSON.parse(text) as SharedCephState,
    () => undefined,
  );
}

/** Stops the run's shared Ceph, if a suite started one (global teardown). */
export async function stopSharedCeph(statePath: string): Promise<void> {
  const state = await readSharedState(statePath);
  if (!state) return;
  for (const pid of [state.pids.rgw, state.pids.osd, state.pids.mon])
    await killPid(pid);
  await rm(state.dir, { recursive: true, force: true });
  await rm(statePath, { force: true });
}

/** SIGKILL, then waits until the process is gone (or 10 s). */
async function killPid(pid: number | undefined): Promise<void> {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
