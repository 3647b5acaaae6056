// What the deployment checks share: the tools `.ci/run` installs (helm, the
// Kubernetes API schemas, docker-compose), rendering the chart and the compose
// file, and validating rendered objects against the Kubernetes schemas offline.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as ts from 'typescript';
import { K8sObject, Kind, Kinds, isKind } from './kubernetes';

export * from './kubernetes';

export const root = join(__dirname, '..', '..');
export const chartDir = join(root, 'helm', 'image-pipeline');
export const helmBin = join(root, '.tools', 'helm', 'helm');
export const schemaModules = join(
  root,
  '.tools',
  'kube-schemas',
  'node_modules',
);

/**
 * Value sets the chart is checked with, every file in the chart's ci/:
 * `default` is the defaults plus what an install must be given (the image's
 * repository, a ReadWriteMany class).
 */
export const valueSets: Record<string, string> = {
  default: join(chartDir, 'ci', 'default-values.yaml'),
  external: join(chartDir, 'ci', 'external-values.yaml'),
  keda: join(chartDir, 'ci', 'keda-values.yaml'),
  'keda-external': join(chartDir, 'ci', 'keda-external-values.yaml'),
  'rabbitmq-cluster': join(chartDir, 'ci', 'rabbitmq-cluster-values.yaml'),
  'rabbitmq-operator': join(chartDir, 'ci', 'rabbitmq-operator-values.yaml'),
  s3: join(chartDir, 'ci', 's3-values.yaml'),
  monitoring: join(chartDir, 'ci', 'monitoring-values.yaml'),
};

function missing(what: string): never {
  throw new Error(
    `${what} is missing: run the install block of .ci/run (it puts helm and the Kubernetes schemas into .tools/, docker-compose from apt)`,
  );
}

// The `yaml` package, from the schemas folder (the project itself does not
// depend on it).
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
    // Found at run time in .tools/, outside the project's dependencies: no
    // import can name it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    yamlModule = require(path) as YamlModule;
  }
  return yamlModule;
}

export function parseYaml(text: string): unknown {
  return yaml().parse(text);
}

export function parseManifests(text: string): K8sObject[] {
  return yaml()
    .parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0)
        throw new Error(
          `invalid YAML in the rendered chart: ${doc.errors.map((e) => e.message).join('; ')}`,
        );
      return doc.toJS() as K8sObject | null;
    })
    .filter(
      (object): object is K8sObject =>
        object !== null && typeof object === 'object',
    );
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): Run {
  if (!existsSync(helmBin)) missing('helm (.tools/helm/helm)');
  const result = spawnSync(helmBin, args, {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: tmpdir() },
  });
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

/**
 * `helm template` of the chart with one value set (plus --set pairs); throws on
 * failure.
 */
export function renderChart(
  valuesFile?: string,
  sets: string[] = [],
  release = 'demo',
  namespace = 'pipeline',
  moreValues: string[] = [],
): K8sObject[] {
  const args = ['template', release, chartDir, '--namespace', namespace];
  for (const file of [valuesFile, ...moreValues])
    if (file) args.push('--values', file);
  for (const set of sets) args.push('--set', set);
  const result = helm(args);
  if (result.status !== 0)
    throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function dockerCompose(args: string[], envFile: string): Run {
  const which = spawnSync('sh', ['-c', 'command -v docker-compose'], {
    encoding: 'utf8',
  });
  if (which.status !== 0) missing('docker-compose');
  // Only PATH from the environment: variables of the shell must not leak into
  // the file.
  const result = spawnSync(
    'docker-compose',
    [
      '--project-directory',
      root,
      '-f',
      join(root, 'docker-compose.yml'),
      '--env-file',
      envFile,
      ...args,
    ],
    {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    },
  );
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

/**
 * A compose file's volume as docker-compose 1.29 (`source:target:mode`) or v2
 * prints it.
 */
type ComposeVolumeEntry =
  | string
  | {
      type: ComposeVolume['type'];
      source?: string;
      target: string;
      read_only?: boolean;
    };
/**
 * A published port as docker-compose 1.29 (`ip:published:target/proto`) or v2
 * prints it.
 */
type ComposePortEntry =
  | string
  | { host_ip?: string; published?: string | number; target: string | number };

/** The parts of a service of `docker-compose config` the checks read. */
export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  /** Empty for a service that sets none. */
  environment: Record<string, string>;
  volumes?: ComposeVolumeEntry[];
  ports?: ComposePortEntry[];
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  profiles?: string[];
  hostname?: string;
  container_name?: string;
  healthcheck?: { test: string[] };
  read_only?: boolean;
  cap_drop?: string[];
  tmpfs?: string[];
  stop_grace_period?: string;
  deploy?: object;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, object | null>;
}

/** `docker-compose config` output, parsed. */
export function parseCompose(text: string): ComposeFile {
  const file = parseYaml(text) as ComposeFile;
  if (!file?.services)
    throw new Error(`not a compose file: no services in ${text.slice(0, 200)}`);
  for (const service of Object.values(file.services))
    service.environment ??= {};
  return file;
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

/**
 * A service's volumes as objects: docker-compose 1.29 prints
 * `source:target:mode`, v2 objects.
 */
export function composeVolumes(service: ComposeService): ComposeVolume[] {
  return (service.volumes ?? []).map((volume): ComposeVolume => {
    if (typeof volume !== 'string')
      return {
        type: volume.type,
        source: volume.source,
        target: volume.target,
        read_only: volume.read_only === true,
      };
    const [source, target, mode = 'rw'] = volume.split(':');
    return {
      type:
        source.startsWith('/') || source.startsWith('.') ? 'bind' : 'volume',
      source,
      target,
      read_only: mode.split(',').includes('ro'),
    };
  });
}

/**
 * A service's published ports as objects (1.29: `ip:published:target/proto`).
 */
export function composePorts(service: ComposeService): ComposePort[] {
  return (service.ports ?? []).map((port): ComposePort => {
    if (typeof port !== 'string')
      return {
        host_ip: port.host_ip,
        published: Number(port.published),
        target: Number(port.target),
      };
    const parts = port.replace(/\/\w+$/, '').split(':');
    const target = Number(parts.pop());
    const published = parts.length > 0 ? Number(parts.pop()) : undefined;
    return { host_ip: parts.pop(), published, target };
  });
}

/**
 * The object of this kind and name, typed for its kind; throws naming the ones
 * there are.
 */
export function find<K extends Kind>(
  objects: K8sObject[],
  kind: K,
  name: string,
): Kinds[K] {
  const object = objects.find(
    (o): o is Kinds[K] => isKind(o, kind) && o.metadata.name === name,
  );
  if (!object)
    throw new Error(
      `no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
    );
  return object;
}

export const label = (object: K8sObject) =>
  `${object.kind}/${object.metadata.name}`;

/**
 * Checks rendered objects against the Kubernetes API schemas (the
 * `kubernetes-models` npm packages, generated from Kubernetes' OpenAPI
 * description and the CRDs of KEDA and the Prometheus Operator), offline,
 * twice:
 * - the JSON-schema validators the packages ship (types, formats, enums,
 *   required fields);
 * - TypeScript's check of each object as a literal of the API type, which also
 *   rejects every field the API does not have (a misspelt or misplaced key), as
 *   `kubectl --validate=strict` would. Returns one message per problem, naming
 *   the object.
 */
export function validateAgainstSchemas(objects: K8sObject[]): string[] {
  if (!existsSync(join(schemaModules, 'kubernetes-models')))
    missing('the Kubernetes schemas (.tools/kube-schemas)');
  const problems: string[] = [];

  const runtime = execFileSync(
    process.execPath,
    [join(__dirname, 'validate-manifests.mjs'), schemaModules],
    {
      input: JSON.stringify(objects),
      encoding: 'utf8',
    },
  );
  for (const { index, errors } of JSON.parse(runtime) as {
    index: number;
    errors: string[];
  }[]) {
    for (const error of errors)
      problems.push(`${label(objects[index])}: ${error}`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'k8s-types-'));
  try {
    symlinkSync(schemaModules, join(dir, 'node_modules'), 'dir');
    const aliases = new Map<string, string>();
    const lines = objects.map((object, index) => {
      const module = typeModule(object);
      if (!module)
        return `// ${index}: no type for ${object.apiVersion} ${object.kind}`;
      if (!aliases.has(module)) aliases.set(module, `T${aliases.size}`);
      return `export const o${index}: ${aliases.get(module)} = ${JSON.stringify(object)};`;
    });
    const header = [...aliases].map(
      ([module, alias]) =>
        `import type { I${basename(module)} as ${alias} } from '${module}';`,
    );
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
      const message = ts.flattenDiagnosticMessageText(
        diagnostic.messageText,
        '\n',
      );
      if (
        diagnostic.file &&
        diagnostic.start !== undefined &&
        diagnostic.file.fileName === file
      ) {
        const line =
          diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line -
          header.length;
        const near = diagnostic.file.text.slice(
          diagnostic.start,
          diagnostic.start + 60,
        );
        problems.push(
          `${objects[line] ? label(objects[line]) : `line ${line}`}: ${message} (at ${near}…)`,
        );
      } else {
        problems.push(message);
      }
    }
    objects.forEach((object, index) => {
      if (!typeModule(object))
        problems.push(
          `${label(objects[index])}: no schema for ${object.apiVersion} ${object.kind}`,
        );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return problems;
}

function typeModule(object: K8sObject): string | undefined {
  const group = object.apiVersion.startsWith('keda.sh/')
    ? '@kubernetes-models/keda'
    : object.apiVersion.startsWith('monitoring.coreos.com/')
      ? '@kubernetes-models/prometheus-operator'
      : 'kubernetes-models';
  const base = `${group}/${object.apiVersion}`;
  const path = `${base}/${object.kind}`;
  return existsSync(join(schemaModules, `${path}.d.ts`)) ? path : undefined;
}

export function readRepoFile(path: string): string {
  return readFileSync(join(root, path), 'utf8');
}
