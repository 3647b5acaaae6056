import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The parts of a V8 .cpuprofile (what `node --cpu-prof` writes) the summary
 * reads.
 */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  name: string;
  module: string;
  selfMs: number;
}

export interface ProfileSummary {
  sampledMs: number;
  byModule: { module: string; selfMs: number }[];
  top: HotSpot[];
}

/**
 * What a function belongs to: a package of node_modules (pg, amqplib, fastify,
 * …), one of our libs or apps, Node's own modules, or V8's pseudo-frames (GC,
 * program, idle).
 */
export function moduleOf(url: string, functionName: string): string {
  if (functionName === '(garbage collector)') return 'GC';
  if (
    functionName === '(program)' ||
    functionName === '(idle)' ||
    functionName === '(root)'
  )
    return functionName;
  // The last match: a package nested in another's node_modules, and a library
  // built into an app's folder (dist/<app>/libs/<lib>); the rest of that folder
  // is the app's own.
  const pkg = [...url.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)].pop();
  if (pkg) return pkg[1];
  const own = [...url.matchAll(/\/(libs|apps)\/([^/]+)(?=\/)/g)].pop();
  if (own) return `${own[1]}/${own[2]}`;
  const app = /\/dist\/([^/]+)\//.exec(url);
  if (app) return `apps/${app[1]}`;
  if (url.startsWith('node:'))
    return url.replace(/^node:(internal\/)?/, 'node:').split('/')[0];
  return url === '' ? '(native)' : url;
}

/**
 * The self time of each function and module in a profile, top first, counting
 * only the samples taken between `fromUs` and `toUs` (the monotonic clock, in
 * microseconds, which is process.hrtime's) so that a process's start and
 * shutdown stay out of it. Idle time is left out.
 */
export function summariseProfile(
  profile: CpuProfile,
  window?: { fromUs: number; toUs: number },
  top = 10,
): ProfileSummary {
  const frames = new Map(
    profile.nodes.map((node) => [node.id, node.callFrame]),
  );
  const byFunction = new Map<string, HotSpot>();
  const byModule = new Map<string, number>();
  let at = profile.startTime;
  let sampledUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const frame = frames.get(profile.samples[i]);
    if (!frame || frame.functionName === '(idle)') continue;
    sampledUs += us;
    const module = moduleOf(frame.url, frame.functionName);
    const file = frame.url.split('/').pop() ?? '';
    const name = file
      ? `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`
      : frame.functionName || '(anonymous)';
    const key = `${module}\u0000${name}`;
    const spot = byFunction.get(key) ?? { name, module, selfMs: 0 };
    spot.selfMs += us / 1000;
    byFunction.set(key, spot);
    byModule.set(module, (byModule.get(module) ?? 0) + us / 1000);
  }
  const ms = (value: number) => Math.round(value * 10) / 10;
  return {
    sampledMs: ms(sampledUs / 1000),
    byModule: [...byModule]
      .map(([module, selfMs]) => ({ module, selfMs: ms(selfMs) }))
      .sort((a, b) => b.selfMs - a.selfMs),
    top: [...byFunction.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top)
      .map((spot) => ({ ...spot, selfMs: ms(spot.selfMs) })),
  };
}

/**
 * The .cpuprofile files of a folder by the pid that wrote them
 * (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile).
 */
export function profilesByPid(dir: string): Map<number, string> {
  const result = new Map<number, string>();
  for (const name of readdirSync(dir)) {
    const pid = /^CPU\.\d+\.\d+\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(name)?.[1];
    if (pid) result.set(Number(pid), join(dir, name));
  }
  return result;
}

/**
 * Prints each process's top modules and functions by self time; `roles` names
 * the pids (producer, worker-1, …).
 */
export function printProfiles(
  dir: string,
  roles: Map<number, string>,
  window?: { fromUs: number; toUs: number },
): Record<string, ProfileSummary> {
  const summaries: Record<string, ProfileSummary> = {};
  for (const [pid, file] of profilesByPid(dir)) {
    const role = roles.get(pid);
    if (!role) continue;
    const summary = summariseProfile(
      JSON.parse(readFileSync(file, 'utf8')) as CpuProfile,
      window,
    );
    summaries[role] = summary;
    console.log(
      `\n${role} (pid ${pid}): ${summary.sampledMs} ms sampled on the main thread`,
    );
    console.log(
      `  by module: ${summary.byModule
        .slice(0, 10)
        .map((entry) => `${entry.module} ${entry.selfMs}`)
        .join(', ')}`,
    );
    for (const spot of summary.top)
      console.log(
        `  ${spot.selfMs.toFixed(1).padStart(8)} ms  ${spot.module.padEnd(22)} ${spot.name}`,
      );
  }
  return summaries;
}

// `node dist/bench/bench/src/cpu-profile.js DIR`: every profile of a folder,
// whole, by pid.
if (require.main === module) {
  const dir = process.argv[2];
  if (!dir)
    throw new Error(
      'usage: cpu-profile.js DIR (a folder of .cpuprofile files)',
    );
  printProfiles(
    dir,
    new Map([...profilesByPid(dir).keys()].map((pid) => [pid, `pid ${pid}`])),
  );
}
