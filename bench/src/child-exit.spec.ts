import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { exited } from './child-exit';

describe('exited', () => {
  it('resolves at once for a process that has already exited', async () => {
    const child = spawn(process.execPath, ['-e', 'process.exit(3)']);
    await once(child, 'exit');
    await expect(exited(child)).resolves.toBeUndefined();
  });

  it('resolves once a running process exits', async () => {
    const child = spawn(process.execPath, [
      '-e',
      'setInterval(() => undefined, 1000)',
    ]);
    const exit = exited(child);
    child.kill('SIGTERM');
    await expect(exit).resolves.toBeUndefined();
    expect(child.signalCode).toBe('SIGTERM');
  });
});
