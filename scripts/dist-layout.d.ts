export declare const REPOSITORY_ROOT: string;
export declare const APPS: readonly [
  'producer',
  'image-worker',
  'results-writer',
  'migrator',
  'cli',
];
export type BuiltApp = (typeof APPS)[number];
export declare function outDirOf(target: BuiltApp | 'bench'): string;
export declare function entryOf(
  target: BuiltApp | 'bench',
  entryPoint?: string,
): string;
