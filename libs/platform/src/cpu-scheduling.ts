import { execFile } from 'node:child_process';

/**
 * How the kernel schedules a process's threads among the machine's others:
 * `batch` is Linux's SCHED_BATCH, `normal` its default (SCHED_OTHER).
 */
export const CPU_SCHEDULING = ['batch', 'normal'] as const;
export type CpuScheduling = (typeof CPU_SCHEDULING)[number];

/**
 * Puts every thread of process `pid` under SCHED_BATCH; the threads it makes
 * later inherit the policy from the thread that makes them. Node has no call
 * for sched_setscheduler, so util-linux's `chrt` does it (no privilege is
 * needed to move to it). Resolves with why it could not, or undefined.
 */
export function scheduleAsBatch(
  pid: number = process.pid,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      'chrt',
      ['--batch', '--all-tasks', '--pid', '0', String(pid)],
      { timeout: 5_000 },
      (error, _stdout, stderr) => {
        if (!error) return resolve(undefined);
        const said = stderr.trim() || error.message;
        resolve(
          (error as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'chrt (util-linux) is not installed'
            : `chrt could not set process ${pid}'s policy: ${said}`,
        );
      },
    );
  });
}
