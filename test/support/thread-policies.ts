import { readdir, readFile } from 'node:fs/promises';

/** The scheduling policies' numbers, as sched_setscheduler(2) has them. */
const POLICY_NUMBERS: Record<number, string> = {
  0: 'normal',
  1: 'fifo',
  2: 'round-robin',
  3: 'batch',
  5: 'idle',
  6: 'deadline',
};

/**
 * The scheduling policy of each thread of process `pid` (field 41 of
 * /proc/<pid>/task/<tid>/stat), by thread id.
 */
export async function threadPolicies(
  pid: number,
): Promise<Map<number, string>> {
  const policies = new Map<number, string>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    // The command name, field 2, is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const policy = Number(fields[41 - 3]);
    policies.set(Number(tid), POLICY_NUMBERS[policy] ?? `policy ${policy}`);
  }
  return policies;
}
