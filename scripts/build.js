#!/usr/bin/env node
// `npm run build`: type-checks every app (with --bench, the bench too) and its
// libraries as one TypeScript program, then gives each app a folder of its own
// (see dist-layout.js) holding the app's files and, of the libraries, only the
// files its imports reach. One compilation rather than one per app; an app's
// folder shows what it depends on.
'use strict';
const { mkdirSync, rmSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const ts = require('typescript');
const { REPOSITORY_ROOT: root, APPS, outDirOf } = require('./dist-layout');

// Where tsc would write, mirroring the repository; nothing is written there.
const stage = path.join(root, 'dist', '.stage');
const targets = process.argv.includes('--bench') ? [...APPS, 'bench'] : APPS;
const sourceDirOf = (target) =>
  target === 'bench' ? 'bench/src' : `apps/${target}/src`;

/** The program's files: the apps' and libraries', and the bench's if built. */
function rootNames(options) {
  const config = (file) =>
    ts.getParsedCommandLineOfConfigFile(path.join(root, file), options, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => fail([diagnostic]),
    });
  const build = config('tsconfig.build.json');
  const bench = targets.includes('bench')
    ? config('bench/tsconfig.app.json').fileNames
    : [];
  return { options: build.options, fileNames: [...build.fileNames, ...bench] };
}

function fail(diagnostics) {
  process.stderr.write(
    ts.formatDiagnosticsWithColorAndContext(diagnostics, {
      getCanonicalFileName: (file) => file,
      getCurrentDirectory: () => root,
      getNewLine: () => '\n',
    }),
  );
  process.exit(1);
}

/**
 * Compiles the program in memory: each output's text by its path from the
 * repository's root as tsc would lay it out (`libs/platform/src/run.js`).
 */
function compile() {
  const overrides = { outDir: stage, rootDir: root, noEmit: false };
  const { options, fileNames } = rootNames(overrides);
  const program = ts.createProgram(fileNames, { ...options, ...overrides });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) fail(diagnostics);
  const outputs = new Map();
  const { diagnostics: emitted } = program.emit(undefined, (file, text) =>
    outputs.set(path.relative(stage, file), text),
  );
  if (emitted.length > 0) fail(emitted);
  return outputs;
}

/** Where a compiled file goes inside a target's folder. */
function placeOf(file) {
  const lib = /^libs\/([^/]+)\/src\/(.*)$/.exec(file);
  if (lib) return `libs/${lib[1]}/${lib[2]}`;
  const own = /^(?:apps\/[^/]+|bench)\/src\/(.*)$/.exec(file);
  return own ? own[1] : file;
}

const requiresOf = (text) =>
  [...text.matchAll(/require\("((?:\.|@pipeline\/)[^"]*)"\)/g)].map(
    ([, spec]) => spec,
  );

/**
 * The compiled file a require of ours names, or, for a file of the repository
 * that is not compiled (a launcher's JavaScript), its path without extension.
 */
function resolveRequire(outputs, from, spec) {
  const alias = /^@pipeline\/([a-z-]+)$/.exec(spec);
  const base = alias
    ? `libs/${alias[1]}/src`
    : path.join(path.dirname(from), spec);
  const compiled = [`${base}.js`, `${base}/index.js`];
  return compiled.find((file) => outputs.has(file)) ?? base;
}

/** Every compiled file a target's own files reach through their requires. */
function filesOf(outputs, target) {
  const own = `${sourceDirOf(target)}/`;
  const queue = [...outputs.keys()].filter(
    (file) => file.startsWith(own) && file.endsWith('.js'),
  );
  const reached = new Set();
  while (queue.length > 0) {
    const file = queue.pop();
    if (reached.has(file)) continue;
    reached.add(file);
    for (const spec of requiresOf(outputs.get(file))) {
      const dependency = resolveRequire(outputs, file, spec);
      if (outputs.has(dependency)) queue.push(dependency);
    }
  }
  return reached;
}

function relativeSpec(fromDir, to) {
  const spec = path.relative(fromDir, to).replace(/(\/index)?\.js$/, '');
  return spec.startsWith('.') ? spec : `./${spec}`;
}

/** A compiled file's text with its requires pointing where things now are. */
function relocate(outputs, file, folder) {
  const placedDir = path.dirname(path.join(folder, placeOf(file)));
  return outputs
    .get(file)
    .replace(/require\("((?:\.|@pipeline\/)[^"]*)"\)/g, (call, spec) => {
      const dependency = resolveRequire(outputs, file, spec);
      const to = outputs.has(dependency)
        ? path.join(folder, placeOf(dependency))
        : path.join(root, dependency);
      return `require("${relativeSpec(placedDir, to)}")`;
    });
}

/** A source map whose sources are named from the file's new place. */
function relocateMap(text, file, folder) {
  const map = JSON.parse(text);
  const compiledDir = path.dirname(path.join(stage, file));
  const placedDir = path.dirname(path.join(folder, placeOf(file)));
  map.sources = map.sources.map((source) =>
    path.relative(placedDir, path.resolve(compiledDir, source)),
  );
  return JSON.stringify(map);
}

function write(outputs, target) {
  const folder = outDirOf(target);
  rmSync(folder, { recursive: true, force: true });
  for (const file of filesOf(outputs, target)) {
    const placed = path.join(folder, placeOf(file));
    mkdirSync(path.dirname(placed), { recursive: true });
    writeFileSync(placed, relocate(outputs, file, folder));
    const map = outputs.get(`${file}.map`);
    if (map) writeFileSync(`${placed}.map`, relocateMap(map, file, folder));
  }
}

const outputs = compile();
for (const target of targets) write(outputs, target);
