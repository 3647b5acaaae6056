import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The libraries by layer, bottom first: a library may import only libraries of
 * lower layers, and no library imports an app. The README's Architecture
 * section shows the same table.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['failpoints', 'platform'],
  ['contracts'],
  ['messaging', 'database', 'storage', 'fetching', 'imaging', 'metrics'],
  ['auth', 'health'],
];

/** The only library that may use sharp: image work stays behind it. */
const SHARP_OWNER = 'imaging';

const ROOT = resolve(__dirname, '..');

/** Where a file is: a library's or an app's, by name. */
interface Owner {
  kind: 'lib' | 'app';
  name: string;
}

/** A source file as the checks read it: its path from the root, its text. */
interface SourceFile {
  path: string;
  text: string;
}

function ownerOf(path: string): Owner | undefined {
  const [top, name] = path.split('/');
  if (top === 'libs' && name) return { kind: 'lib', name };
  if (top === 'apps' && name) return { kind: 'app', name };
  return undefined;
}

/** Every module a file imports, re-exports or requires, as written. */
function importsOf(text: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/gm,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
    /\b(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) =>
    [...text.matchAll(pattern)].map((match) => match[1]),
  );
}

/** The library or app an import names, from the importing file's path. */
function targetOf(path: string, specifier: string): Owner | undefined {
  const aliased = /^@pipeline\/([^/]+)/.exec(specifier);
  if (aliased) return { kind: 'lib', name: aliased[1] };
  if (!specifier.startsWith('.')) return undefined;
  const target = join(dirname(path), specifier).split(sep).join('/');
  return ownerOf(target);
}

function layerOf(lib: string): number {
  return LAYERS.findIndex((layer) => layer.includes(lib));
}

/** Why one import breaks the layering, or undefined when it does not. */
function importProblem(from: Owner, to: Owner): string | undefined {
  if (from.kind !== 'lib' || to.name === from.name) return undefined;
  if (to.kind === 'app') return 'a library imports an app';
  const [own, other] = [layerOf(from.name), layerOf(to.name)];
  if (own < 0) return `the library ${from.name} is in no layer`;
  if (other < 0) return `the library ${to.name} is in no layer`;
  return other >= own
    ? `${from.name} (layer ${own + 1}) imports ${to.name} (layer ${other + 1})`
    : undefined;
}

/** Every import that breaks the layering: `file: import (why)`. */
function layeringViolations(files: SourceFile[]): string[] {
  return files.flatMap(({ path, text }) => {
    const from = ownerOf(path);
    if (!from) return [];
    return importsOf(text).flatMap((specifier) => {
      const to = targetOf(path, specifier);
      const problem = to && importProblem(from, to);
      return problem ? [`${path}: ${specifier} (${problem})`] : [];
    });
  });
}

/** Every import of sharp outside its library. */
function sharpOutsideImaging(files: SourceFile[]): string[] {
  return files.flatMap(({ path, text }) =>
    path.startsWith(`libs/${SHARP_OWNER}/`)
      ? []
      : importsOf(text)
          .filter((specifier) => /^sharp(\/|$)/.test(specifier))
          .map((specifier) => `${path}: ${specifier}`),
  );
}

/** The layer table as the README shows it. */
function layerTable(): string {
  const rows = LAYERS.map(
    (libs, index) =>
      `| ${index + 1} | ${libs.map((lib) => `\`${lib}\``).join(', ')} |`,
  );
  return [
    '| Layer | Libraries |',
    '| --- | --- |',
    ...rows,
    `| ${LAYERS.length + 1} | the apps |`,
  ].join('\n');
}

function sourceFiles(): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
        files.push({
          path: relative(ROOT, path).split(sep).join('/'),
          text: readFileSync(path, 'utf8'),
        });
    }
  };
  for (const top of ['libs', 'apps'])
    for (const entry of readdirSync(join(ROOT, top), { withFileTypes: true }))
      if (entry.isDirectory()) walk(join(ROOT, top, entry.name, 'src'));
  return files;
}

describe('layers', () => {
  const files = sourceFiles();

  it('reads the sources of every library and app', () => {
    const owners = new Set(files.map((file) => ownerOf(file.path)?.name ?? ''));
    for (const lib of LAYERS.flat()) expect(owners).toContain(lib);
    expect(owners).toContain('producer');
  });

  it('has every library in a layer', () => {
    const libs = readdirSync(join(ROOT, 'libs'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(libs.filter((lib) => layerOf(lib) < 0)).toEqual([]);
  });

  it('has no library import a library of its own layer or above, or an app', () => {
    expect(layeringViolations(files)).toEqual([]);
  });

  it('has sharp imported only by the imaging library', () => {
    expect(sharpOutsideImaging(files)).toEqual([]);
  });

  it("shows the same table in the README's Architecture section", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const architecture = readme.slice(
      readme.indexOf('## Architecture'),
      readme.indexOf('\n## ', readme.indexOf('## Architecture') + 1),
    );
    expect(architecture).toContain(layerTable());
  });

  describe('the checks themselves', () => {
    const file = (path: string, text: string) => ({ path, text });

    it('name the file and the import that goes up, sideways or to an app', () => {
      expect(
        layeringViolations([
          file(
            'libs/platform/src/a.ts',
            "import { x } from '@pipeline/messaging';",
          ),
          file('libs/imaging/src/b.ts', "export * from '../../storage/src';"),
          file(
            'libs/auth/src/c.ts',
            "import { y } from '../../../apps/producer/src/y';",
          ),
          file(
            'libs/health/src/d.ts',
            "import { z } from '@pipeline/messaging';",
          ),
          file('apps/producer/src/e.ts', "import { w } from '@pipeline/auth';"),
        ]),
      ).toEqual([
        'libs/platform/src/a.ts: @pipeline/messaging (platform (layer 1) imports messaging (layer 3))',
        'libs/imaging/src/b.ts: ../../storage/src (imaging (layer 3) imports storage (layer 3))',
        'libs/auth/src/c.ts: ../../../apps/producer/src/y (a library imports an app)',
      ]);
    });

    it('find sharp however it is imported', () => {
      expect(
        sharpOutsideImaging([
          file('apps/image-worker/src/a.ts', "import sharp from 'sharp';"),
          file('apps/image-worker/src/b.ts', "const s = require('sharp');"),
          file('libs/imaging/src/c.ts', "import sharp from 'sharp';"),
        ]),
      ).toEqual([
        'apps/image-worker/src/a.ts: sharp',
        'apps/image-worker/src/b.ts: sharp',
      ]);
    });
  });
});
