// What the deployment checks share: the tools `.ci/run` installs (helm, the Kubernetes API
// schemas, docker-compose), rendering the chart and the compose file, and validating
// rendered objects against the Kubernetes schemas offline.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as ts from 'typescript';

export const root = join(__dirname, '..', '..');
export const chartDir = join(root, 'helm', 'image-pipeline');
export const helmBin = join(root, '.tools', 'helm', 'helm');
export const schemaModules = join(root, '.tools', 'kube-schemas', 'node_modules');

/** Value sets the chart is checked with: the defaults and every file in the chart's ci/. */
export const valueSets: Record<string, string | undefined> = {
  default: undefined,
  external: join(chartDir, 'ci', 'external-values.yaml'),
  keda: join(chartDir, 'ci', 'keda-values.yaml'),
  'keda-external': join(chartDir, 'ci', 'keda-external-values.yaml'),
  'rabbitmq-cluster': join(chartDir, 'ci', 'rabbitmq-cluster-values.yaml'),
  'rabbitmq-operator': join(chartDir, 'ci', 'rabbitmq-operator-values.yaml'),
  s3: join(chartDir, 'ci', 's3-values.yaml'),
};

function missing(what: string): never {
  throw new Error(`${what} is missing: run the install block of .ci/run (it puts helm and the Kubernetes schemas into .tools/, docker-compose from apt)`);
}

// The `yaml` package, from the schemas folder (the project itself does not depend on it).
interface YamlDocument {
  toJS(): unknown;
  errors: { message: string }[];
}
interface YamlModule {
  parse(text: string): unknown;
  parseAllDocuments(text: string): YamlDocument[];
}
let yamlModule: YamlModule | undefined;
function yaml(): YamlModule {
  if (!yamlModule) {
    const path = join(schemaModules, 'yaml');
    if (!existsSync(path)) missing('the yaml package');
    yamlModule = require(path) as YamlModule;
  }
  return yamlModule;
}

export function parseYaml(text: string): unknown {
  return yaml().parse(text);
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  [key: string]: any;
}

export function parseManifests(text: string): K8sObject[] {
  return yaml()
    .parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`invalid YAML in the rendered chart: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null && typeof object === 'object');
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): Run {
  if (!existsSync(helmBin)) missing('helm (.tools/helm/helm)');
  const result = spawnSync(helmBin, args, { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: tmpdir() } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` of the chart with one value set (plus --set pairs); throws on failure. */
export function renderChart(valuesFile?: string, sets: string[] = [], release = 'demo', namespace = 'pipeline'): K8sObject[] {
  const args = ['template', release, chartDir, '--namespace', namespace];
  if (valuesFile) args.push('--values', valuesFile);
  for (const set of sets) args.push('--set', set);
  const result = helm(args);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function dockerCompose(args: string[], envFile: string): Run {
  const which = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' });
  if (which.status !== 0) missing('docker-compose');
  // Only PATH from the environment: variables of the shell must not leak into the file.
  const result = spawnSync('docker-compose', ['--project-directory', root, '-f', join(root, 'docker-compose.yml'), '--env-file', envFile, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface ComposeVolume {
  type: 'volume' | 'bind' | 'tmpfs';
  source?: string;
  target: string;
  read_only?: boolean;
}
export interface ComposePort {
  host_ip?: string;
  published?: number;
  target: number;
}

/** A service's volumes as objects: docker-compose 1.29 prints `source:target:mode`, v2 objects. */
export function composeVolumes(service: any): ComposeVolume[] {
  return (service.volumes ?? []).map((volume: any) => {
    if (typeof volume !== 'string') return { type: volume.type, source: volume.source, target: volume.target, read_only: volume.read_only === true };
    const [source, target, mode = 'rw'] = volume.split(':');
    return { type: source.startsWith('/') || source.startsWith('.') ? 'bind' : 'volume', source, target, read_only: mode.split(',').includes('ro') };
  });
}

/** A service's published ports as objects (1.29: `ip:published:target/proto`). */
export function composePorts(service: any): ComposePort[] {
  return (service.ports ?? []).map((port: any) => {
    if (typeof port !== 'string') return { host_ip: port.host_ip, published: Number(port.published), target: Number(port.target) };
    const parts = port.replace(/\/\w+$/, '').split(':');
    const target = Number(parts.pop());
    const published = parts.length > 0 ? Number(parts.pop()) : undefined;
    return { host_ip: parts.pop(), published, target };
  });
}

/** The containers of a workload's pod template (init containers included). */
export function podSpecOf(object: K8sObject): any | undefined {
  switch (object.kind) {
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return object.spec?.template?.spec;
    case 'CronJob':
      return object.spec?.jobTemplate?.spec?.template?.spec;
    case 'Pod':
      return object.spec;
    default:
      return undefined;
  }
}

export function containersOf(podSpec: any): any[] {
  return [...(podSpec.initContainers ?? []), ...(podSpec.containers ?? [])];
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const object = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!object) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return object;
}

export const label = (object: K8sObject) => `${object.kind}/${object.metadata.name}`;

/**
 * Checks rendered objects against the Kubernetes API schemas (the `kubernetes-models` npm
 * packages, generated from Kubernetes' OpenAPI description and KEDA's CRDs), offline, twice:
 * - the JSON-schema validators the packages ship (types, formats, enums, required fields);
 * - TypeScript's check of each object as a literal of the API type, which also rejects every
 *   field the API does not have (a misspelt or misplaced key), as `kubectl --validate=strict`
 *   would.
 * Returns one message per problem, naming the object.
 */
export function validateAgainstSchemas(objects: K8sObject[]): string[] {
  if (!existsSync(join(schemaModules, 'kubernetes-models'))) missing('the Kubernetes schemas (.tools/kube-schemas)');
  const problems: string[] = [];

  const runtime = execFileSync(process.execPath, [join(__dirname, 'validate-manifests.mjs'), schemaModules], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
  });
  for (const { index, errors } of JSON.parse(runtime) as { index: number; errors: string[] }[]) {
    for (const error of errors) problems.push(`${label(objects[index])}: ${error}`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'k8s-types-'));
  try {
    symlinkSync(schemaModules, join(dir, 'node_modules'), 'dir');
    const aliases = new Map<string, string>();
    const lines = objects.map((object, index) => {
      const module = typeModule(object);
      if (!module) return `// ${index}: no type for ${object.apiVersion} ${object.kind}`;
      if (!aliases.has(module)) aliases.set(module, `T${aliases.size}`);
      return `export const o${index}: ${aliases.get(module)} = ${JSON.stringify(object)};`;
    });
    const header = [...aliases].map(([module, alias]) => `import type { I${basename(module)} as ${alias} } from '${module}';`);
    const file = join(dir, 'manifests.ts');
    writeFileSync(file, [...header, ...lines].join('\n') + '\n');
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: [],
    });
    for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      if (diagnostic.file && diagnostic.start !== undefined && diagnostic.file.fileName === file) {
        const line = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line - header.length;
        const near = diagnostic.file.text.slice(diagnostic.start, diagnostic.start + 60);
        problems.push(`${objects[line] ? label(objects[line]) : `line ${line}`}: ${message} (at ${near}…)`);
      } else {
        problems.push(message);
      }
    }
    objects.forEach((object, index) => {
      if (!typeModule(object)) problems.push(`${label(objects[index])}: no schema for ${object.apiVersion} ${object.kind}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return problems;
}

function typeModule(object: K8sObject): string | undefined {
  const base = object.apiVersion.startsWith('keda.sh/') ? `@kubernetes-models/keda/${object.apiVersion}` : `kubernetes-models/${object.apiVersion}`;
  const path = `${base}/${object.kind}`;
  return existsSync(join(schemaModules, `${path}.d.ts`)) ? path : undefined;
}

export function readRepoFile(path: string): string {
  return readFileSync(join(root, path), 'utf8');
}
