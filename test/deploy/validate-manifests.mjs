// Validates Kubernetes objects (a JSON array on stdin) with the JSON-schema
// validators of the `kubernetes-models` packages (KEDA's and the Prometheus
// Operator's CRDs included), found in the folder given as
// the first argument. Prints [{index, errors}] for the objects that fail, or
// that no package has a schema for. An ES module because the packages are;
// test/deploy/tools.ts runs it with node.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.argv[2];

/** The package with the schemas of an API group: its CRDs' or Kubernetes'. */
function packageOf(apiVersion) {
  if (apiVersion.startsWith('keda.sh/')) return '@kubernetes-models/keda';
  if (apiVersion.startsWith('monitoring.coreos.com/'))
    return '@kubernetes-models/prometheus-operator';
  return 'kubernetes-models';
}
const objects = JSON.parse(readFileSync(0, 'utf8'));
const results = [];

for (const [index, object] of objects.entries()) {
  const base = join(packageOf(object.apiVersion), object.apiVersion);
  const file = join(modules, base, `${object.kind}.js`);
  if (!existsSync(file)) {
    results.push({
      index,
      errors: [`no schema for ${object.apiVersion} ${object.kind}`],
    });
    continue;
  }
  const Model = (await import(pathToFileURL(file).href))[object.kind];
  try {
    new Model(object).validate();
  } catch (error) {
    results.push({ index, errors: String(error.message ?? error).split(', ') });
  }
}

process.stdout.write(JSON.stringify(results));
