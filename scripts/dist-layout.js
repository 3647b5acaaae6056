// Where `npm run build` puts what it builds: each app (and the bench) in a
// folder of its own, dist/<target>/, its entry points at the top of it and the
// libraries it imports under libs/<lib>/. Everything that launches a built app
// from JavaScript or TypeScript asks here; the container image, compose and
// the chart spell the same paths out (test/deploy checks them).
'use strict';
const path = require('node:path');

const REPOSITORY_ROOT = path.resolve(__dirname, '..');
const APPS = ['producer', 'image-worker', 'results-writer', 'migrator', 'cli'];

/** The folder of one built target (an app or `bench`). */
function outDirOf(target) {
  return path.join(REPOSITORY_ROOT, 'dist', target);
}

/**
 * The file node runs for an entry point of a target: `main` for every app,
 * `broker-users` for the migrator's second one, each script of the bench.
 */
function entryOf(target, entryPoint = 'main') {
  return path.join(outDirOf(target), `${entryPoint}.js`);
}

module.exports = { REPOSITORY_ROOT, APPS, outDirOf, entryOf };
