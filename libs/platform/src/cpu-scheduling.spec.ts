import { ChildProcess, spawn } from 'node:child_process';
import { threadPolicies } from '../../../test/support/thread-policies';
import { scheduleAsBatch } from './cpu-scheduling';

/**
 * A Node process that starts libuv's thread pool (its first file-system call)
 * on SIGUSR2 and then prints "pool": threads made after its policy was set.
 */
function nodeProcess(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `process.on('SIGUSR2', () => require('fs').stat('/', () => console.log('pool')));
       setInterval(() => {}, 1000); console.log('up');`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve) =>
    child.stdout.once('data', () => resolve(child)),
  );
}

const printed = (child: ChildProcess, line: string): Promise<void> =>
  new Promise((resolve) =>
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes(line)) resolve();
    }),
  );

describe('scheduleAsBatch', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('puts every thread of a process under SCHED_BATCH, and the threads it makes later too', async () => {
    child = await nodeProcess();
    const before = await threadPolicies(child.pid!);
    expect(new Set(before.values())).toEqual(new Set(['normal']));

    expect(await scheduleAsBatch(child.pid)).toBeUndefined();
    const after = await threadPolicies(child.pid!);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    expect(new Set(after.values())).toEqual(new Set(['batch']));

    const pool = printed(child, 'pool');
    child.kill('SIGUSR2');
    await pool;
    const withPool = await threadPolicies(child.pid!);
    expect(withPool.size).toBeGreaterThan(after.size);
    expect(new Set(withPool.values())).toEqual(new Set(['batch']));
  });

  it('says why when it cannot, naming the process', async () => {
    child = await nodeProcess();
    const pid = child.pid!;
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    expect(await scheduleAsBatch(pid)).toMatch(
      new RegExp(`^chrt could not set process ${pid}'s policy: .+`),
    );
  });
});
