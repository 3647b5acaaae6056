import { readdirSync, readFileSync } from 'node:fs';

/**
 * The processes whose parent is `parentPid` and whose command line contains
 * `match` (Linux /proc).
 */
export function childProcesses(parentPid: number, match: string): number[] {
  return runningProcesses()
    .filter(({ pid, parent }) => {
      try {
        return (
          parent === parentPid &&
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(match)
        );
      } catch {
        // gone meanwhile
        return false;
      }
    })
    .map(({ pid }) => pid);
}

/** Every running process with its parent's pid (Linux /proc). */
export function runningProcesses(): Array<{ pid: number; parent: number }> {
  const processes: Array<{ pid: number; parent: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name in field 2 may hold spaces and parentheses: the fields
      // after it start past the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(
        stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1],
      );
      processes.push({ pid: Number(entry), parent });
    } catch {
      // gone meanwhile
    }
  }
  return processes;
}

/** A process's resident set size in bytes, or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    )?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Samples the RSS of some processes every `intervalMs` and keeps the highest
 * each reached, over the run and over the current phase.
 */
export class PeakRssSampler {
  private readonly peaks = new Map<number, number>();
  private phasePeaks = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: number[],
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    for (const pid of this.pids) {
      const rss = rssBytes(pid);
      if (rss === undefined) continue;
      this.peaks.set(pid, Math.max(this.peaks.get(pid) ?? 0, rss));
      this.phasePeaks.set(pid, Math.max(this.phasePeaks.get(pid) ?? 0, rss));
    }
  }

  /**
   * The highest RSS of any one process since the previous phase ended (or
   * sampling began), in MiB; the next phase starts now.
   */
  endPhase(): number {
    this.sample();
    const peak = toMiB(this.phasePeaks);
    this.phasePeaks = new Map();
    return peak;
  }

  /**
   * Stops sampling; the highest RSS of any one process over the whole run, in
   * MiB.
   */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return toMiB(this.peaks);
  }
}

function toMiB(peaks: Map<number, number>): number {
  return Math.round(Math.max(0, ...peaks.values()) / (1024 * 1024));
}
