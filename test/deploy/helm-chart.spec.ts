// The Helm chart (helm/image-pipeline): lint, render with every value set,
// validate what it renders against the Kubernetes API schemas, and check the
// promises the README makes about it (restricted pods, probes, kept secrets,
// hooks, autoscaling, network policies).
import {
  cpSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BROKER_ROLES, brokerUsers } from '@pipeline/messaging';
import {
  BrokerUsersConfig,
  loadConfig,
  longestJobHoldMs,
  WorkerConfig,
} from '@pipeline/platform';
import {
  chartDir,
  containersOf,
  find,
  helm,
  isWorkload,
  K8sObject,
  label,
  NetworkPolicyRule,
  ofKind,
  parseManifests,
  podSpecOf,
  podTemplateOf,
  renderChart,
  validateAgainstSchemas,
  valueSets,
} from './tools';
import { objectContaining } from '../support/matchers';

jest.setTimeout(60_000);

const sets = Object.entries(valueSets);
const rendered = new Map<string, K8sObject[]>();
const renderedFor = (set: string) => {
  if (!rendered.has(set)) rendered.set(set, renderChart(valueSets[set]));
  return rendered.get(set)!;
};
const workloads = (objects: K8sObject[]) => objects.filter(isWorkload);
const appComponents = ['producer', 'image-worker', 'results-writer', 'migrate'];
const componentOf = (o: K8sObject) =>
  o.metadata.labels?.['app.kubernetes.io/component'] ?? '';

describe('helm chart', () => {
  test.each(sets)(
    'helm lint --strict passes with the %s values',
    (_set, file) => {
      const result = helm([
        'lint',
        '--strict',
        chartDir,
        ...(file ? ['--values', file] : []),
      ]);
      expect(result.stderr + result.stdout).toContain('0 chart(s) failed');
      expect(result.status).toBe(0);
    },
  );

  test.each(sets)(
    'the %s values render manifests valid against the Kubernetes API schemas',
    (set) => {
      const objects = renderedFor(set);
      expect(objects.length).toBeGreaterThan(10);
      expect(validateAgainstSchemas(objects)).toEqual([]);
    },
  );

  test('the schema check catches a misplaced field and a wrong type', () => {
    const objects = renderChart(valueSets.default, []);
    const misspelt = structuredClone(
      find(objects, 'Deployment', 'demo-image-pipeline-image-worker'),
    );
    Object.assign(misspelt.spec.template.spec.containers[0], {
      securityContex: {},
    });
    expect(validateAgainstSchemas([misspelt]).join('\n')).toMatch(
      /securityContex"?' does not exist in type 'IContainer'/,
    );
    const wrongType = structuredClone(
      find(objects, 'Deployment', 'demo-image-pipeline-image-worker'),
    );
    Object.assign(wrongType.spec.template.spec.containers[0].ports![0], {
      containerPort: 'http',
    });
    expect(validateAgainstSchemas([wrongType]).join('\n')).toContain(
      'containerPort must be integer',
    );
  });

  test.each(sets)(
    'every pod of the %s values meets the restricted Pod Security Standard',
    (set) => {
      const problems: string[] = [];
      const allowedVolumes = [
        'configMap',
        'csi',
        'downwardAPI',
        'emptyDir',
        'ephemeral',
        'persistentVolumeClaim',
        'projected',
        'secret',
      ];
      for (const workload of workloads(renderedFor(set))) {
        const pod = podSpecOf(workload);
        const at = label(workload);
        const podContext = pod.securityContext ?? {};
        if (podContext.runAsNonRoot !== true)
          problems.push(`${at}: runAsNonRoot`);
        if (podContext.runAsUser === 0) problems.push(`${at}: runAsUser 0`);
        if (podContext.seccompProfile?.type !== 'RuntimeDefault')
          problems.push(`${at}: seccompProfile`);
        if (pod.hostNetwork || pod.hostPID || pod.hostIPC)
          problems.push(`${at}: host namespaces`);
        for (const volume of pod.volumes ?? []) {
          const type = Object.keys(volume).find((key) => key !== 'name');
          if (!type || !allowedVolumes.includes(type))
            problems.push(`${at}: volume ${volume.name} of type ${type}`);
        }
        for (const container of containersOf(pod)) {
          const where = `${at} ${container.name}`;
          const context = container.securityContext ?? {};
          if (context.allowPrivilegeEscalation !== false)
            problems.push(`${where}: allowPrivilegeEscalation`);
          if (context.privileged) problems.push(`${where}: privileged`);
          if (context.runAsUser === 0) problems.push(`${where}: runAsUser 0`);
          if (!(context.capabilities?.drop ?? []).includes('ALL'))
            problems.push(`${where}: capabilities not dropped`);
          for (const added of context.capabilities?.add ?? [])
            if (added !== 'NET_BIND_SERVICE')
              problems.push(`${where}: adds ${added}`);
          for (const port of container.ports ?? [])
            if (port.hostPort) problems.push(`${where}: hostPort`);
        }
      }
      expect(problems).toEqual([]);
    },
  );

  test.each(sets)(
    'with the %s values every container but pgAdmin has a read-only root filesystem and an emptyDir at /tmp',
    (set) => {
      const problems: string[] = [];
      for (const workload of workloads(renderedFor(set))) {
        // its entrypoint writes into the image
        if (componentOf(workload) === 'pgadmin') continue;
        const pod = podSpecOf(workload);
        const emptyDirs = new Set(
          (pod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name),
        );
        for (const container of containersOf(pod)) {
          const where = `${label(workload)} ${container.name}`;
          if (container.securityContext?.readOnlyRootFilesystem !== true)
            problems.push(`${where}: root filesystem writable`);
          // writes nothing
          if (container.name === 'wait-for-services') continue;
          const tmp = (container.volumeMounts ?? []).find(
            (m) => m.mountPath === '/tmp',
          );
          if (!tmp || !emptyDirs.has(tmp.name))
            problems.push(`${where}: no emptyDir at /tmp`);
        }
      }
      expect(problems).toEqual([]);
    },
  );

  test('the apps run node on the one image, with probes on their health endpoints', () => {
    const objects = renderedFor('default');
    const expected: Record<string, [string, number]> = {
      'demo-image-pipeline-producer': ['producer', 3000],
      'demo-image-pipeline-image-worker': ['image-worker', 3001],
      'demo-image-pipeline-results-writer': ['results-writer', 3002],
    };
    for (const [name, [app, port]] of Object.entries(expected)) {
      const pod = podSpecOf(find(objects, 'Deployment', name));
      const container = pod.containers[0];
      expect(container.image).toBe('registry.example.com/image-pipeline:0.1.0');
      // the image's ENTRYPOINT: node, PID 1
      expect(container.command).toBeUndefined();
      expect(container.args).toEqual([`dist/${app}/main.js`]);
      // The producer's /metrics has a port of its own, which its Service does
      // not expose.
      const metrics =
        app === 'producer'
          ? [{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]
          : [];
      expect(container.ports).toEqual([
        { name: 'http', containerPort: port, protocol: 'TCP' },
        ...metrics,
      ]);
      expect(
        find(objects, 'Deployment', name).spec.template.metadata.annotations?.[
          'prometheus.io/port'
        ],
      ).toBe(String(metrics[0]?.containerPort ?? port));
      expect(container.env).toContainEqual({
        name: 'PORT',
        value: String(port),
      });
      expect(container.livenessProbe?.httpGet).toEqual({
        path: '/health/live',
        port: 'http',
      });
      expect(container.readinessProbe?.httpGet).toEqual({
        path: '/health/ready',
        port: 'http',
      });
      expect(container.startupProbe?.httpGet).toEqual({
        path: '/health/live',
        port: 'http',
      });
      expect(container.resources?.requests).toBeDefined();
      expect(container.resources?.limits?.memory).toBeDefined();
      // Longer than SHUTDOWN_GRACE_MS (25 s): work in flight finishes on
      // SIGTERM.
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25);
      expect(pod.automountServiceAccountToken).toBe(false);
    }
  });

  test('the producer, the workers and the writer (for its retention sweep) share one ReadWriteMany claim at STORAGE_DIR', () => {
    const objects = renderedFor('default');
    const claim = find(
      objects,
      'PersistentVolumeClaim',
      'demo-image-pipeline-storage',
    );
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
    expect(claim.metadata.annotations?.['helm.sh/resource-policy']).toBe(
      'keep',
    );
    for (const name of [
      'demo-image-pipeline-producer',
      'demo-image-pipeline-image-worker',
      'demo-image-pipeline-results-writer',
    ]) {
      const pod = podSpecOf(find(objects, 'Deployment', name));
      expect(pod.volumes).toContainEqual({
        name: 'storage',
        persistentVolumeClaim: { claimName: 'demo-image-pipeline-storage' },
      });
      expect(pod.containers[0].volumeMounts).toContainEqual({
        name: 'storage',
        mountPath: '/data/storage',
      });
      expect(pod.containers[0].env).toContainEqual({
        name: 'STORAGE_DIR',
        value: '/data/storage',
      });
    }
    const writer = podSpecOf(
      find(objects, 'Deployment', 'demo-image-pipeline-results-writer'),
    );
    // The writer never reads the images folder.
    expect(writer.volumes?.map((v) => v.name)).toEqual(['tmp', 'storage']);
    expect(writer.containers[0].env).toEqual(
      expect.arrayContaining([
        { name: 'RETENTION_UPLOADS_S', value: '604800' },
        { name: 'RETENTION_OUTPUTS_S', value: '2592000' },
        { name: 'RETENTION_JOBS_S', value: '0' },
        { name: 'RETENTION_SWEEP_INTERVAL_S', value: '300' },
      ]),
    );
    const kept = helm([
      'template',
      'demo',
      chartDir,
      '--values',
      valueSets.default,
      '--set',
      'resultsWriter.retention.jobsSeconds=7776000',
      '--set',
      'storage.existingClaim=pipeline-storage',
    ]);
    expect(kept.status).toBe(0);
    const keptWriter = podSpecOf(
      find(
        parseManifests(kept.stdout),
        'Deployment',
        'demo-image-pipeline-results-writer',
      ),
    );
    expect(keptWriter.containers[0].env).toContainEqual({
      name: 'RETENTION_JOBS_S',
      value: '7776000',
    });
    expect(keptWriter.volumes).toContainEqual({
      name: 'storage',
      persistentVolumeClaim: { claimName: 'pipeline-storage' },
    });

    const external = renderedFor('external');
    expect(external.some((o) => o.kind === 'PersistentVolumeClaim')).toBe(
      false,
    );
    const worker = podSpecOf(
      find(external, 'Deployment', 'demo-image-pipeline-image-worker'),
    );
    expect(worker.volumes).toContainEqual({
      name: 'storage',
      persistentVolumeClaim: { claimName: 'pipeline-storage' },
    });
    expect(worker.volumes).toContainEqual({
      name: 'images',
      persistentVolumeClaim: { claimName: 'photo-library', readOnly: true },
    });
    expect(worker.containers[0].volumeMounts).toContainEqual({
      name: 'images',
      mountPath: '/images',
      readOnly: true,
      subPath: 'published',
    });
  });

  test('generated passwords are kept: the Secret is looked up before it is generated, and survives uninstall', () => {
    const secret = find(
      renderedFor('default'),
      'Secret',
      'demo-image-pipeline-credentials',
    );
    expect(secret.metadata.annotations?.['helm.sh/resource-policy']).toBe(
      'keep',
    );
    expect(Object.keys(secret.data ?? {}).sort()).toEqual([
      'AMQP_URL',
      'AMQP_URL_PRODUCER',
      'AMQP_URL_WORKER',
      'AMQP_URL_WRITER',
      'DATABASE_URL',
      'PGADMIN_PASSWORD',
      'POSTGRES_PASSWORD',
      'RABBITMQ_ERLANG_COOKIE',
      'RABBITMQ_MANAGEMENT_URL',
      'RABBITMQ_PASSWORD',
      'RABBITMQ_PRODUCER_PASSWORD',
      'RABBITMQ_WORKER_PASSWORD',
      'RABBITMQ_WRITER_PASSWORD',
    ]);
    const decoded = (key: string) =>
      Buffer.from(secret.data![key], 'base64').toString();
    expect(decoded('RABBITMQ_PASSWORD')).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(decoded('AMQP_URL')).toBe(
      `amqp://pipeline:${decoded('RABBITMQ_PASSWORD')}@demo-image-pipeline-rabbitmq.pipeline.svc:5672`,
    );
    expect(decoded('DATABASE_URL')).toBe(
      `postgres://pipeline:${decoded('POSTGRES_PASSWORD')}@demo-image-pipeline-postgresql.pipeline.svc:5432/pipeline`,
    );
    // `helm template` has no cluster to look the Secret up in; the template
    // must do it.
    expect(
      readFileSync(join(chartDir, 'templates', 'secret.yaml'), 'utf8'),
    ).toMatch(
      /lookup "v1" "Secret" \.Release\.Namespace \(include "pipeline\.credentialsSecret" \.\)[^\n]*\n\{\{- include "pipeline\.credentials" \(dict "root" \. "data" \(get \$existing "data"/,
    );
    const helpers = readFileSync(
      join(chartDir, 'templates', '_helpers.tpl'),
      'utf8',
    );
    const template = helpers.slice(
      helpers.indexOf('{{- define "pipeline.credentials" -}}'),
    );
    for (const key of [
      'RABBITMQ_PASSWORD',
      'POSTGRES_PASSWORD',
      'PGADMIN_PASSWORD',
      'RABBITMQ_ERLANG_COOKIE',
    ])
      expect(template).toContain(`get $data "${key}" | b64dec`);
    expect(template).toContain(
      '{{- $key := printf "RABBITMQ_%s_PASSWORD" . }}',
    );
    expect(template).toContain(
      '(get $data $key | b64dec | default (randAlphaNum 32))',
    );
    // The services' data outlives the release too, and is made with those
    // passwords.
    for (const name of [
      'demo-image-pipeline-rabbitmq',
      'demo-image-pipeline-postgresql',
    ]) {
      const statefulSet = find(renderedFor('default'), 'StatefulSet', name);
      expect(statefulSet.spec.persistentVolumeClaimRetentionPolicy).toEqual({
        whenDeleted: 'Retain',
        whenScaled: 'Retain',
      });
      expect(statefulSet.spec.volumeClaimTemplates).toHaveLength(1);
      expect(statefulSet.spec.replicas).toBe(1);
    }
  });

  test('the in-chart services use the official images and a password from the credentials Secret', () => {
    const objects = renderedFor('default');
    const rabbitmq = podSpecOf(
      find(objects, 'StatefulSet', 'demo-image-pipeline-rabbitmq'),
    ).containers[0];
    expect(rabbitmq.image).toMatch(/^rabbitmq:3\.\d+\.\d+-management$/);
    expect(rabbitmq.env).toContainEqual({
      name: 'RABBITMQ_DEFAULT_PASS',
      valueFrom: {
        secretKeyRef: {
          name: 'demo-image-pipeline-credentials',
          key: 'RABBITMQ_PASSWORD',
        },
      },
    });
    const postgres = podSpecOf(
      find(objects, 'StatefulSet', 'demo-image-pipeline-postgresql'),
    ).containers[0];
    expect(postgres.image).toMatch(/^postgres:\d+/);
    expect(postgres.env).toContainEqual({
      name: 'POSTGRES_PASSWORD',
      valueFrom: {
        secretKeyRef: {
          name: 'demo-image-pipeline-credentials',
          key: 'POSTGRES_PASSWORD',
        },
      },
    });
  });

  test('rabbitmq.replicas 3: a cluster by Kubernetes peer discovery, with its RBAC, cookie, node names, PDB and network paths', () => {
    const objects = renderedFor('rabbitmq-cluster');
    const name = 'demo-image-pipeline-rabbitmq';
    const statefulSet = find(objects, 'StatefulSet', name);
    expect(statefulSet.spec.replicas).toBe(3);
    expect(statefulSet.spec.podManagementPolicy).toBe('Parallel');
    expect(statefulSet.spec.serviceName).toBe(`${name}-headless`);
    const pod = podSpecOf(statefulSet);
    expect(pod.serviceAccountName).toBe(name);
    expect(pod.automountServiceAccountToken).toBe(true);
    const container = pod.containers[0];
    expect(container.env).toContainEqual({
      name: 'RABBITMQ_ERLANG_COOKIE',
      valueFrom: {
        secretKeyRef: {
          name: 'demo-image-pipeline-credentials',
          key: 'RABBITMQ_ERLANG_COOKIE',
        },
      },
    });
    expect(container.env).toContainEqual({
      name: 'RABBITMQ_USE_LONGNAME',
      value: 'true',
    });
    expect(container.env).toContainEqual({
      name: 'RABBITMQ_NODENAME',
      value: `rabbit@$(MY_POD_NAME).${name}-headless.pipeline.svc`,
    });
    expect(container.volumeMounts).toContainEqual({
      name: 'cluster-config',
      mountPath: '/etc/rabbitmq/conf.d/20-cluster.conf',
      subPath: 'cluster.conf',
      readOnly: true,
    });

    const config = find(objects, 'ConfigMap', `${name}-cluster`);
    expect(config.data!['enabled_plugins']).toContain(
      'rabbitmq_peer_discovery_k8s',
    );
    const conf = config.data!['cluster.conf'];
    expect(conf).toContain(
      'cluster_formation.peer_discovery_backend = rabbit_peer_discovery_k8s',
    );
    expect(conf).toContain(
      `cluster_formation.k8s.service_name = ${name}-headless`,
    );
    expect(conf).toContain(
      `cluster_formation.k8s.hostname_suffix = .${name}-headless.pipeline.svc`,
    );

    // Peer discovery may read the headless Service's endpoints, nothing more.
    const role = find(objects, 'Role', `${name}-peer-discovery`);
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['endpoints'], verbs: ['get'] },
    ]);
    const binding = find(objects, 'RoleBinding', `${name}-peer-discovery`);
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name, namespace: 'pipeline' },
    ]);
    expect(binding.roleRef).toMatchObject({
      kind: 'Role',
      name: `${name}-peer-discovery`,
    });
    expect(find(objects, 'ServiceAccount', name)).toBeDefined();
    expect(find(objects, 'PodDisruptionBudget', name).spec).toMatchObject({
      maxUnavailable: 1,
    });
    const headless = find(objects, 'Service', `${name}-headless`);
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(headless.spec.ports.map((port) => port.port)).toEqual([
      5672, 4369, 25672,
    ]);

    // The apps name every node, through the headless Service: one URL, several
    // hosts.
    const secret = find(objects, 'Secret', 'demo-image-pipeline-credentials');
    const decoded = (key: string) =>
      Buffer.from(secret.data![key], 'base64').toString();
    const hosts = [0, 1, 2]
      .map((i) => `${name}-${i}.${name}-headless.pipeline.svc:5672`)
      .join(',');
    expect(decoded('AMQP_URL')).toBe(
      `amqp://pipeline:${decoded('RABBITMQ_PASSWORD')}@${hosts}`,
    );
    for (const role of BROKER_ROLES)
      expect(decoded(`AMQP_URL_${role.toUpperCase()}`)).toBe(
        `amqp://${role}:${decoded(`RABBITMQ_${role.toUpperCase()}_PASSWORD`)}@${hosts}`,
      );
    expect(decoded('RABBITMQ_ERLANG_COOKIE')).toMatch(/^[A-Za-z0-9]{48}$/);
    const producer = podSpecOf(
      find(objects, 'Deployment', 'demo-image-pipeline-producer'),
    ).containers[0];
    expect(producer.env).toContainEqual({
      name: 'AMQP_QUORUM_INITIAL_GROUP_SIZE',
      value: '3',
    });

    // The nodes reach each other; a single node gets none of this.
    const policy = find(objects, 'NetworkPolicy', name);
    const nodePorts = (rules: NetworkPolicyRule[]) =>
      rules.flatMap((rule) => (rule.ports ?? []).map((port) => port.port));
    expect(nodePorts(policy.spec.ingress!)).toEqual(
      expect.arrayContaining([4369, 25672]),
    );
    expect(nodePorts(policy.spec.egress!)).toEqual(
      expect.arrayContaining([4369, 25672, 443]),
    );
    const single = renderedFor('default');
    expect(
      podSpecOf(find(single, 'StatefulSet', name)).automountServiceAccountToken,
    ).toBe(false);
    expect(
      single.filter(
        (o) =>
          (['Role', 'RoleBinding', 'ServiceAccount'].includes(o.kind) &&
            o.metadata.name.startsWith(name)) ||
          o.metadata.name === `${name}-cluster`,
      ),
    ).toEqual([]);
    expect(
      find(single, 'StatefulSet', name).spec.podManagementPolicy,
    ).toBeUndefined();
    expect(
      helm([
        'template',
        'demo',
        chartDir,
        '--values',
        valueSets.default,
        '--set',
        'rabbitmq.replicas=2',
      ]).stderr,
    ).toContain('rabbitmq.replicas');
  });

  test("rabbitmq.consumerTimeoutMs: every node's consumer_timeout, and the workers' AMQP_CONSUMER_TIMEOUT_MS, far above a job's deadline", () => {
    const name = 'demo-image-pipeline-rabbitmq';
    const settingsOf = (objects: K8sObject[]) => {
      const conf = find(objects, 'ConfigMap', `${name}-config`).data![
        'pipeline.conf'
      ];
      const container = podSpecOf(find(objects, 'StatefulSet', name))
        .containers[0];
      const worker = podSpecOf(
        find(objects, 'Deployment', 'demo-image-pipeline-image-worker'),
      ).containers[0];
      return { conf, mounts: container.volumeMounts, env: worker.env };
    };
    for (const set of ['default', 'rabbitmq-cluster']) {
      const { conf, mounts, env } = settingsOf(renderedFor(set));
      expect(conf).toMatch(/^consumer_timeout = 1800000$/m);
      expect(mounts).toContainEqual({
        name: 'config',
        mountPath: '/etc/rabbitmq/conf.d/10-pipeline.conf',
        subPath: 'pipeline.conf',
        readOnly: true,
      });
      expect(env).toContainEqual({
        name: 'AMQP_CONSUMER_TIMEOUT_MS',
        value: '1800000',
      });
      expect(env).toContainEqual({ name: 'MALLOC_ARENA_MAX', value: '2' });
    }
    // The chart's default agrees with the workers' own and leaves their longest
    // job at most half of it.
    const worker = loadConfig(WorkerConfig, {});
    expect(worker.AMQP_CONSUMER_TIMEOUT_MS).toBe(1_800_000);
    expect(longestJobHoldMs(worker) * 2).toBeLessThanOrEqual(1_800_000);

    const raised = settingsOf(
      renderChart(valueSets.default, ['rabbitmq.consumerTimeoutMs=7200000']),
    );
    expect(raised.conf).toMatch(/^consumer_timeout = 7200000$/m);
    expect(raised.env).toContainEqual({
      name: 'AMQP_CONSUMER_TIMEOUT_MS',
      value: '7200000',
    });
    const tooShort = helm([
      'template',
      'demo',
      chartDir,
      '--values',
      valueSets.default,
      '--set',
      'rabbitmq.consumerTimeoutMs=1000',
    ]);
    expect(tooShort.status).not.toBe(0);
    expect(tooShort.stderr).toContain('consumerTimeoutMs');
  });

  test('each app connects as its own broker user, made by a hook Job with the permissions of brokerPermissions(); only the producer declares the topology', () => {
    const objects = renderedFor('default');
    const secret = find(objects, 'Secret', 'demo-image-pipeline-credentials');
    const decoded = (key: string) =>
      Buffer.from(secret.data![key], 'base64').toString();
    const job = find(objects, 'Job', 'demo-image-pipeline-rabbitmq-users');
    expect(job.metadata.annotations).toMatchObject({
      'helm.sh/hook': 'post-install,post-upgrade',
      'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
    });
    const setup = podSpecOf(job).containers[0];
    expect(setup.args).toEqual(['dist/migrator/broker-users.js']);
    // The Job's environment as the setup reads it, the Secret's values put in.
    const setupEnv = Object.fromEntries(
      setup.env!.map((env) => [
        env.name,
        env.valueFrom ? decoded(env.valueFrom.secretKeyRef!.key) : env.value,
      ]),
    );
    for (const env of setup.env!.filter((e) => e.valueFrom))
      expect(env.valueFrom?.secretKeyRef?.name).toBe(
        'demo-image-pipeline-credentials',
      );
    const setupConfig = loadConfig(BrokerUsersConfig, setupEnv);
    expect(setupConfig.RABBITMQ_MANAGEMENT_URL).toBe(
      `http://pipeline:${decoded('RABBITMQ_PASSWORD')}@demo-image-pipeline-rabbitmq.pipeline.svc:15672/`,
    );
    const users = brokerUsers(setupConfig.AMQP_PREFIX, {
      producer: setupConfig.RABBITMQ_PRODUCER_PASSWORD,
      worker: setupConfig.RABBITMQ_WORKER_PASSWORD,
      writer: setupConfig.RABBITMQ_WRITER_PASSWORD,
    });
    const deployments = {
      producer: 'demo-image-pipeline-producer',
      worker: 'demo-image-pipeline-image-worker',
      writer: 'demo-image-pipeline-results-writer',
    } as const;
    for (const user of users) {
      const pod = podSpecOf(
        find(objects, 'Deployment', deployments[user.role]),
      );
      const app = pod.containers[0];
      const envOf = (name: string) => app.env?.find((env) => env.name === name);
      const urlKey = `AMQP_URL_${user.role.toUpperCase()}`;
      expect(envOf('AMQP_URL')?.valueFrom).toEqual({
        secretKeyRef: { name: 'demo-image-pipeline-credentials', key: urlKey },
      });
      const url = new URL(decoded(urlKey));
      expect({
        role: user.role,
        user: url.username,
        password: url.password,
        vhost: url.pathname || '/',
      }).toEqual({
        role: user.role,
        user: user.name,
        password: user.password,
        vhost: setupConfig.RABBITMQ_VHOST,
      });
      expect({ role: user.role, prefix: envOf('AMQP_PREFIX')?.value }).toEqual({
        role: user.role,
        prefix: setupConfig.AMQP_PREFIX,
      });
      expect({
        role: user.role,
        topology: envOf('AMQP_TOPOLOGY')?.value,
      }).toEqual({
        role: user.role,
        topology: user.role === 'producer' ? 'declare' : 'check',
      });
      // Not even the init container sees the administrator's URL.
      expect({
        role: user.role,
        admin:
          JSON.stringify(pod).includes('"key":"AMQP_URL"') ||
          JSON.stringify(pod).includes('RABBITMQ_MANAGEMENT_URL'),
      }).toEqual({ role: user.role, admin: false });
    }
    // With a broker of your own the users are yours to make: one URL, and each
    // app declares.
    const external = renderedFor('external');
    expect(
      external.some(
        (o) => o.kind === 'Job' && o.metadata.name.endsWith('rabbitmq-users'),
      ),
    ).toBe(false);
    for (const deployment of Object.values(deployments))
      expect(
        podSpecOf(
          find(external, 'Deployment', deployment),
        ).containers[0].env!.some((env) => env.name === 'AMQP_TOPOLOGY'),
      ).toBe(false);
    expect(
      helm([
        'template',
        'demo',
        chartDir,
        '--values',
        valueSets.default,
        '--set',
        'config.AMQP_TOPOLOGY=check',
      ]).stderr,
    ).toContain('AMQP_TOPOLOGY');
  });

  test('a cluster of the RabbitMQ Cluster Operator: no in-chart broker, AMQP_URL from the Secret made for it', () => {
    const objects = renderedFor('rabbitmq-operator');
    expect(
      objects.some(
        (o) =>
          o.kind === 'StatefulSet' &&
          o.metadata.name === 'demo-image-pipeline-rabbitmq',
      ),
    ).toBe(false);
    const writer = podSpecOf(
      find(objects, 'Deployment', 'demo-image-pipeline-results-writer'),
    ).containers[0];
    expect(writer.env).toContainEqual({
      name: 'AMQP_URL',
      valueFrom: {
        secretKeyRef: { name: 'pipeline-rabbitmq-amqp', key: 'AMQP_URL' },
      },
    });
  });

  test('external services: no StatefulSets, the URLs come from the existing Secret', () => {
    const objects = renderedFor('external');
    // The only Secret the chart makes then is the generated admin API key's.
    expect(
      objects
        .filter((o) => o.kind === 'StatefulSet' || o.kind === 'Secret')
        .map((o) => o.metadata.name),
    ).toEqual(['demo-image-pipeline-api-key']);
    for (const workload of workloads(objects)) {
      for (const container of containersOf(podSpecOf(workload))) {
        for (const env of container.env ?? []) {
          if (env.name === 'AMQP_URL')
            expect(env.valueFrom).toEqual({
              secretKeyRef: { name: 'pipeline-services', key: 'AMQP_URL' },
            });
          if (env.name === 'DATABASE_URL')
            expect(env.valueFrom).toEqual({
              secretKeyRef: { name: 'pipeline-services', key: 'DATABASE_URL' },
            });
        }
      }
    }
    const producer = podSpecOf(
      find(objects, 'Deployment', 'demo-image-pipeline-producer'),
    ).containers[0];
    expect(producer.env).toContainEqual({
      name: 'AMQP_PREFIX',
      value: 'images-prod',
    });
    // Each URL may come from a Secret of its own, e.g. the one a database
    // operator makes.
    const separate = podSpecOf(
      find(
        renderedFor('keda-external'),
        'Deployment',
        'demo-image-pipeline-results-writer',
      ),
    ).containers[0];
    expect(separate.env).toContainEqual({
      name: 'AMQP_URL',
      valueFrom: { secretKeyRef: { name: 'pipeline-broker', key: 'url' } },
    });
    expect(separate.env).toContainEqual({
      name: 'DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'pipeline-db-app', key: 'uri' } },
    });
    expect(producer.env).toContainEqual({
      name: 'MAX_UPLOAD_BYTES',
      value: '104857600',
    });
  });

  test('the producer takes the admin API key from a Secret generated once and kept, or from one of yours; limits and CORS from values', () => {
    const objects = renderedFor('default');
    const secret = find(objects, 'Secret', 'demo-image-pipeline-api-key');
    expect(secret.metadata.annotations?.['helm.sh/resource-policy']).toBe(
      'keep',
    );
    expect(
      Buffer.from(secret.data!.ADMIN_API_KEY, 'base64').toString(),
    ).toMatch(/^[A-Za-z0-9]{48}$/);
    const producer = podSpecOf(
      find(objects, 'Deployment', 'demo-image-pipeline-producer'),
    ).containers[0];
    expect(producer.env).toContainEqual({
      name: 'ADMIN_API_KEY',
      valueFrom: {
        secretKeyRef: {
          name: 'demo-image-pipeline-api-key',
          key: 'ADMIN_API_KEY',
        },
      },
    });
    expect(producer.env).toEqual(
      expect.arrayContaining([
        { name: 'METRICS_PORT', value: '9464' },
        { name: 'RATE_LIMIT_WINDOW_S', value: '60' },
        { name: 'RATE_LIMIT_REQUESTS', value: '1200' },
        { name: 'RATE_LIMIT_JOBS_IN_FLIGHT', value: '1000' },
        { name: 'QUOTA_STORED_BYTES', value: '10737418240' },
        { name: 'QUOTA_JOBS_PER_DAY', value: '100000' },
        { name: 'CORS_ORIGINS', value: '' },
      ]),
    );
    // No other app gets the key.
    for (const name of [
      'demo-image-pipeline-image-worker',
      'demo-image-pipeline-results-writer',
    ]) {
      expect(
        podSpecOf(find(objects, 'Deployment', name)).containers[0].env!.map(
          (e) => e.name,
        ),
      ).not.toContain('ADMIN_API_KEY');
    }
    const service = find(objects, 'Service', 'demo-image-pipeline-producer');
    expect(service.spec.ports.map((port) => port.targetPort)).toEqual(['http']);

    const own = helm([
      'template',
      'demo',
      chartDir,
      '--values',
      valueSets.default,
      '--set',
      'producer.adminApiKey.existingSecret=pipeline-admin',
      '--set',
      'producer.adminApiKey.existingSecretKey=key',
      '--set',
      'producer.corsOrigins[0]=https://app.example.com',
    ]);
    expect(own.status).toBe(0);
    const ownObjects = parseManifests(own.stdout);
    expect(
      ownObjects.find(
        (o) => o.kind === 'Secret' && o.metadata.name.endsWith('api-key'),
      ),
    ).toBeUndefined();
    const ownProducer = podSpecOf(
      find(ownObjects, 'Deployment', 'demo-image-pipeline-producer'),
    ).containers[0];
    expect(ownProducer.env).toContainEqual({
      name: 'ADMIN_API_KEY',
      valueFrom: { secretKeyRef: { name: 'pipeline-admin', key: 'key' } },
    });
    expect(ownProducer.env).toContainEqual({
      name: 'CORS_ORIGINS',
      value: 'https://app.example.com',
    });
    const wildcard = helm([
      'template',
      'demo',
      chartDir,
      '--values',
      valueSets.default,
      '--set',
      'producer.corsOrigins[0]=*',
    ]);
    expect(wildcard.status).not.toBe(0);
  });

  test.each(sets)(
    'with the %s values the workers are given neither the admin key nor the database, not even to wait for it',
    (set) => {
      const worker = podSpecOf(
        find(
          renderedFor(set),
          'Deployment',
          'demo-image-pipeline-image-worker',
        ),
      );
      for (const container of containersOf(worker)) {
        const names = (container.env ?? []).map((e) => e.name);
        const fromSecrets = (container.envFrom ?? []).map(
          (from) => from.secretRef?.name ?? from.configMapRef?.name,
        );
        expect({
          container: container.name,
          names: names.filter((name) =>
            /^(ADMIN_API_KEY|DATABASE_URL|DATABASE_POOL_SIZE|PG[A-Z]+)$/.test(
              name,
            ),
          ),
          fromSecrets,
        }).toEqual({ container: container.name, names: [], fromSecrets: [] });
      }
    },
  );

  test('without the in-chart services an existingSecret is required, and values are checked against values.schema.json', () => {
    const noSecret = helm([
      'template',
      'demo',
      chartDir,
      '--values',
      valueSets.default,
      '--set',
      'postgresql.enabled=false',
    ]);
    expect(noSecret.status).not.toBe(0);
    expect(noSecret.stderr).toContain('externalServices.existingSecret');
    const typo = helm([
      'template',
      'demo',
      chartDir,
      '--values',
      valueSets.default,
      '--set',
      'producer.replica=3',
    ]);
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toContain('Additional property replica is not allowed');
    const secretInConfig = helm([
      'template',
      'demo',
      chartDir,
      '--values',
      valueSets.default,
      '--set',
      'config.DATABASE_URL=postgres://x',
    ]);
    expect(secretInConfig.status).not.toBe(0);
  });

  test('migrations run as a hook Job: pre-install with an external database, post-install with the in-chart one, and pre-upgrade', () => {
    const inChart = find(
      renderedFor('default'),
      'Job',
      'demo-image-pipeline-migrate',
    );
    expect(inChart.metadata.annotations?.['helm.sh/hook']).toBe(
      'post-install,pre-upgrade',
    );
    const external = find(
      renderedFor('external'),
      'Job',
      'demo-image-pipeline-migrate',
    );
    expect(external.metadata.annotations?.['helm.sh/hook']).toBe(
      'pre-install,pre-upgrade',
    );
    for (const job of [inChart, external]) {
      expect(job.metadata.annotations?.['helm.sh/hook-delete-policy']).toBe(
        'before-hook-creation,hook-succeeded',
      );
      const pod = podSpecOf(job);
      expect(pod.restartPolicy).toBe('Never');
      // nothing the chart makes: it may not exist yet
      expect(pod.serviceAccountName).toBeUndefined();
      expect(pod.containers[0].args).toEqual(['dist/migrator/main.js']);
      expect(JSON.stringify(pod)).not.toContain('configMapRef');
    }
    expect(JSON.stringify(podSpecOf(external))).toContain(
      '"name":"pipeline-services"',
    );
  });

  test('workers scale with an HPA by default, with a KEDA ScaledObject on <AMQP_PREFIX>.jobs when enabled (and then no HPA)', () => {
    const defaults = renderedFor('default');
    const hpa = find(
      defaults,
      'HorizontalPodAutoscaler',
      'demo-image-pipeline-image-worker',
    );
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'demo-image-pipeline-image-worker',
    });
    expect(
      find(defaults, 'Deployment', 'demo-image-pipeline-image-worker').spec
        .replicas,
    ).toBeUndefined();

    const keda = renderedFor('keda');
    expect(keda.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
    const scaled = find(
      keda,
      'ScaledObject',
      'demo-image-pipeline-image-worker',
    );
    expect(scaled.spec.scaleTargetRef).toEqual({
      name: 'demo-image-pipeline-image-worker',
    });
    expect(scaled.spec.maxReplicaCount).toBe(30);
    expect(scaled.spec.triggers).toEqual([
      {
        type: 'rabbitmq',
        metadata: {
          protocol: 'http',
          queueName: 'pipeline.jobs',
          mode: 'QueueLength',
          value: '10',
        },
        authenticationRef: {
          name: 'demo-image-pipeline-image-worker-rabbitmq',
        },
      },
    ]);
    const auth = find(
      keda,
      'TriggerAuthentication',
      'demo-image-pipeline-image-worker-rabbitmq',
    );
    expect(auth.spec.secretTargetRef).toEqual([
      {
        parameter: 'host',
        name: 'demo-image-pipeline-credentials',
        key: 'RABBITMQ_MANAGEMENT_URL',
      },
    ]);

    const kedaExternal = renderedFor('keda-external');
    expect(
      find(
        kedaExternal,
        'TriggerAuthentication',
        'demo-image-pipeline-image-worker-rabbitmq',
      ).spec.secretTargetRef,
    ).toEqual([{ parameter: 'host', name: 'pipeline-broker', key: 'url' }]);
    expect(
      find(kedaExternal, 'ScaledObject', 'demo-image-pipeline-image-worker')
        .spec.triggers[0].metadata.protocol,
    ).toBe('amqp');

    const prefixed = renderChart(valueSets.default, [
      'imageWorker.keda.enabled=true',
      'config.AMQP_PREFIX=prod',
    ]);
    expect(
      find(prefixed, 'ScaledObject', 'demo-image-pipeline-image-worker').spec
        .triggers[0].metadata.queueName,
    ).toBe('prod.jobs');
  });

  test('PodDisruptionBudgets cover the producer, the workers and the writer', () => {
    const objects = renderedFor('default');
    for (const component of ['producer', 'image-worker', 'results-writer']) {
      const pdb = find(
        objects,
        'PodDisruptionBudget',
        `demo-image-pipeline-${component}`,
      );
      const deployment = find(
        objects,
        'Deployment',
        `demo-image-pipeline-${component}`,
      );
      expect(pdb.spec.selector).toEqual(deployment.spec.selector);
      expect(pdb.spec.maxUnavailable).toBe(1);
    }
  });

  test('Services and the Ingress reach pods of the chart on named ports', () => {
    for (const set of ['default', 'keda']) {
      const objects = renderedFor(set);
      for (const service of ofKind(objects, 'Service')) {
        const targets = workloads(objects).filter((w) =>
          Object.entries(service.spec.selector!).every(
            ([k, v]) => podTemplateOf(w).metadata.labels?.[k] === v,
          ),
        );
        expect(targets.length).toBe(1);
        const ports = containersOf(podSpecOf(targets[0])).flatMap((c) =>
          (c.ports ?? []).map((p) => p.name),
        );
        for (const port of service.spec.ports)
          expect(ports).toContain(port.targetPort);
      }
    }
    const ingress = find(
      renderedFor('keda'),
      'Ingress',
      'demo-image-pipeline-producer',
    );
    expect(ingress.spec.rules[0].http.paths[0].backend).toEqual({
      service: { name: 'demo-image-pipeline-producer', port: { name: 'http' } },
    });
  });

  test('NetworkPolicies let the apps reach only DNS, the broker and the database (workers also the web), and open the API port', () => {
    const objects = renderedFor('default');
    const egressPorts = (name: string) =>
      find(objects, 'NetworkPolicy', name)
        .spec.egress!.flatMap((rule) => rule.ports!.map((p) => p.port))
        .sort((a, b) => Number(a) - Number(b));
    expect(egressPorts('demo-image-pipeline-producer')).toEqual([
      53, 53, 5432, 5671, 5672,
    ]);
    expect(egressPorts('demo-image-pipeline-results-writer')).toEqual([
      53, 53, 5432, 5671, 5672,
    ]);
    expect(egressPorts('demo-image-pipeline-image-worker')).toEqual([
      53, 53, 80, 443, 5671, 5672,
    ]);
    expect(egressPorts('demo-image-pipeline-migrate')).toEqual([53, 53, 5432]);
    const workerWeb = find(
      objects,
      'NetworkPolicy',
      'demo-image-pipeline-image-worker',
    ).spec.egress!.find((r) => r.to)!;
    expect(workerWeb.to![0].ipBlock?.except).toContain('169.254.0.0/16');
    // The producer and the workers allow URL sources the ports the workers'
    // policy opens, and no other.
    const sourcePorts = (list: K8sObject[], name: string) =>
      podSpecOf(find(list, 'Deployment', name)).containers[0].env?.find(
        (e) => e.name === 'SOURCE_URL_PORTS',
      );
    for (const name of [
      'demo-image-pipeline-producer',
      'demo-image-pipeline-image-worker',
    ])
      expect(sourcePorts(objects, name)).toEqual({
        name: 'SOURCE_URL_PORTS',
        value: '80,443',
      });
    const otherPorts = helm([
      'template',
      'demo',
      chartDir,
      '--values',
      valueSets.default,
      '--set',
      'networkPolicy.urlSources.ports={443,8443}',
    ]);
    expect(otherPorts.status).toBe(0);
    const otherObjects = parseManifests(otherPorts.stdout);
    expect(
      find(otherObjects, 'NetworkPolicy', 'demo-image-pipeline-image-worker')
        .spec.egress!.find((r) => r.to)!
        .ports!.map((p) => p.port),
    ).toEqual([443, 8443]);
    for (const name of [
      'demo-image-pipeline-producer',
      'demo-image-pipeline-image-worker',
    ])
      expect(sourcePorts(otherObjects, name)).toEqual({
        name: 'SOURCE_URL_PORTS',
        value: '443,8443',
      });

    // The pods are annotated for scraping, so their metrics ports are open: to
    // every pod of the cluster without metricsFrom.
    const anyPod = [{ namespaceSelector: {} }];
    const producer = find(
      objects,
      'NetworkPolicy',
      'demo-image-pipeline-producer',
    );
    expect(producer.spec.ingress).toEqual([
      { ports: [{ port: 'http', protocol: 'TCP' }] },
      { ports: [{ port: 'metrics', protocol: 'TCP' }], from: anyPod },
    ]);
    expect(
      find(objects, 'NetworkPolicy', 'demo-image-pipeline-image-worker').spec
        .ingress,
    ).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }], from: anyPod }]);
    // Not scraped: nothing reaches the workers and the writer, the API's port
    // only.
    const unscraped = renderChart(valueSets.default, ['metrics.scrape=false']);
    for (const name of [
      'demo-image-pipeline-image-worker',
      'demo-image-pipeline-results-writer',
    ])
      expect(find(unscraped, 'NetworkPolicy', name).spec.ingress).toEqual([]);
    expect(
      find(unscraped, 'NetworkPolicy', 'demo-image-pipeline-producer').spec
        .ingress,
    ).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }] }]);
    expect(
      find(
        unscraped,
        'NetworkPolicy',
        'demo-image-pipeline-rabbitmq',
      ).spec.ingress!.map((rule) => rule.ports![0].port),
    ).toEqual([5672, 15672]);
    expect(
      find(unscraped, 'Deployment', 'demo-image-pipeline-image-worker').spec
        .template.metadata.annotations,
    ).toBeUndefined();
    const postgres = find(
      objects,
      'NetworkPolicy',
      'demo-image-pipeline-postgresql',
    );
    expect(postgres.spec.ingress![0].ports).toEqual([
      { port: 5432, protocol: 'TCP' },
    ]);
    expect(
      postgres.spec.ingress![0].from![0].podSelector!.matchExpressions![0]
        .values,
    ).toEqual(['producer', 'results-writer', 'migrate', 'pgadmin']);
    const rabbitmq = find(
      objects,
      'NetworkPolicy',
      'demo-image-pipeline-rabbitmq',
    );
    expect(
      rabbitmq.spec.ingress!.map((rule) => rule.ports!.map((p) => p.port)),
    ).toEqual([[5672], [15672], [15692]]);
    // The management API only from the broker users Job, which reaches nothing
    // else.
    expect(rabbitmq.spec.ingress![1].from).toEqual([
      {
        podSelector: {
          matchLabels: objectContaining({
            'app.kubernetes.io/component': 'rabbitmq-users',
          }),
        },
      },
    ]);
    expect(egressPorts('demo-image-pipeline-rabbitmq-users')).toEqual([
      53, 53, 15672,
    ]);

    // Metrics scraping, KEDA and the API's clients are configurable.
    const keda = renderedFor('keda');
    expect(
      find(keda, 'NetworkPolicy', 'demo-image-pipeline-image-worker').spec
        .ingress![0].from,
    ).toEqual([
      {
        namespaceSelector: {
          matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
        },
      },
    ]);
    expect(
      find(keda, 'NetworkPolicy', 'demo-image-pipeline-rabbitmq').spec.ingress,
    ).toHaveLength(4);
    const external = find(
      renderedFor('external'),
      'NetworkPolicy',
      'demo-image-pipeline-producer',
    );
    expect(external.spec.ingress).toEqual([
      {
        ports: [{ port: 'http', protocol: 'TCP' }],
        from: [
          {
            namespaceSelector: {
              matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' },
            },
          },
        ],
      },
      {
        ports: [{ port: 'metrics', protocol: 'TCP' }],
        from: [
          {
            namespaceSelector: {
              matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' },
            },
          },
        ],
      },
    ]);
    // Every app pod is selected by a policy.
    for (const workload of workloads(objects).filter((w) =>
      appComponents.includes(componentOf(w)),
    )) {
      const policies = ofKind(objects, 'NetworkPolicy').filter(
        (o) =>
          o.spec.podSelector.matchLabels!['app.kubernetes.io/component'] ===
          componentOf(workload),
      );
      expect(policies).toHaveLength(1);
    }
  });

  test('pgAdmin comes with the database registered', () => {
    const objects = renderedFor('keda');
    const config = find(objects, 'ConfigMap', 'demo-image-pipeline-pgadmin');
    const servers = JSON.parse(config.data!['servers.json']) as {
      Servers: Record<string, object>;
    };
    expect(servers.Servers['1']).toMatchObject({
      Host: 'demo-image-pipeline-postgresql.pipeline.svc',
      Port: 5432,
      MaintenanceDB: 'pipeline',
      Username: 'pipeline',
    });
    const pod = podSpecOf(
      find(objects, 'Deployment', 'demo-image-pipeline-pgadmin'),
    );
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'servers',
      mountPath: '/pgadmin4/servers.json',
      subPath: 'servers.json',
      readOnly: true,
    });
    expect(pod.containers[0].env).toContainEqual({
      name: 'PGADMIN_DEFAULT_EMAIL',
      value: 'dba@example.com',
    });
  });

  test('NOTES.txt tells how to reach the API, submit a first job, check the storage claim, and what the policies need', () => {
    // helm renders NOTES.txt only on install; render it through tpl in a copy
    // of the chart.
    const dir = mkdtempSync(join(tmpdir(), 'chart-notes-'));
    try {
      const copy = join(dir, 'image-pipeline');
      cpSync(chartDir, copy, { recursive: true });
      cpSync(
        join(copy, 'templates', 'NOTES.txt'),
        join(copy, 'notes-source.txt'),
      );
      writeFileSync(
        join(copy, 'templates', 'notes.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get "notes-source.txt") . | toJson }}\n',
      );
      const notesFor = (values: string[]) => {
        const result = helm([
          'template',
          'demo',
          copy,
          '--namespace',
          'pipeline',
          '--show-only',
          'templates/notes.yaml',
          ...values,
        ]);
        expect(result.stderr).toBe('');
        return ofKind(parseManifests(result.stdout), 'ConfigMap')[0].data!
          .notes;
      };
      const notes = notesFor(['--values', valueSets.default]);
      expect(notes).toContain(
        'kubectl -n pipeline port-forward svc/demo-image-pipeline-producer 3000:80',
      );
      expect(notes).toContain('http://localhost:3000/v1/jobs');
      expect(notes).toContain("-F 'operations=[");
      expect(notes).toContain(
        'kubectl -n pipeline get hpa demo-image-pipeline-image-worker',
      );
      // A claim its class cannot make stays Pending, and so does every app.
      expect(notes).toContain(
        'kubectl -n pipeline get pvc demo-image-pipeline-storage',
      );
      expect(notes).toMatch(
        /NetworkPolicies take effect only where the network plugin enforces them/,
      );
      expect(notes).toContain('credentials.existingSecret');
      const external = notesFor(['--values', valueSets.external]);
      expect(external).not.toContain('get pvc');
      expect(
        notesFor([
          '--values',
          valueSets.default,
          '--set',
          'credentials.existingSecret=mine',
        ]),
      ).not.toContain('Generated passwords');
      const keda = notesFor(['--values', valueSets.keda]);
      expect(keda).toContain('https://images.example.com/');
      expect(keda).toContain('get scaledobject');
      expect(keda).toContain(
        'port-forward svc/demo-image-pipeline-pgadmin 5050:80',
      );
      expect(keda).toContain('login dba@example.com');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
