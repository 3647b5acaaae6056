// What a first `helm install` on a real cluster (EKS, GKE, AKS, Rook-Ceph), an
// Argo CD sync, an upgrade and a scale-in need of the chart, checked on what it
// renders: the values it must refuse, the order of its hook Jobs under Argo CD,
// credentials from a Secret of yours, stopping pods that finish their work, and
// pod templates a chart upgrade leaves alone.
import {
  cpSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, longestDrainMs, WorkerConfig } from '@pipeline/platform';
import {
  chartDir,
  Container,
  containersOf,
  find,
  helm,
  isWorkload,
  K8sObject,
  label,
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

const defaults = valueSets.default;
const template = (...args: string[]) =>
  helm(['template', 'demo', chartDir, '--namespace', 'pipeline', ...args]);
const workloads = (objects: K8sObject[]) => objects.filter(isWorkload);
const envOf = (container: Container, name: string) =>
  (container.env ?? []).find((e) => e.name === name);
const worker = (objects: K8sObject[]) =>
  find(objects, 'Deployment', 'demo-image-pipeline-image-worker');

/**
 * A copy of the chart to change (Chart.yaml, an extra template), removed
 * afterwards.
 */
function withChartCopy<T>(use: (copy: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'chart-copy-'));
  try {
    const copy = join(dir, 'image-pipeline');
    cpSync(chartDir, copy, { recursive: true });
    return use(copy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('helm install on a real cluster', () => {
  test('the default values are refused with what to give: the image repository and a ReadWriteMany class or claim', () => {
    const bare = helm(['template', 'demo', chartDir]);
    expect(bare.status).not.toBe(0);
    // One message names both, with the way out of each.
    expect(bare.stderr).toContain('image.repository is required');
    expect(bare.stderr).toContain('docker build -f deploy/Dockerfile');
    expect(bare.stderr).toContain('--set image.repository=');
    expect(bare.stderr).toContain(
      'storage.storageClass or storage.existingClaim is required',
    );
    for (const name of [
      'efs-sc',
      'standard-rwx',
      'azurefile-csi',
      'rook-cephfs',
    ])
      expect(bare.stderr).toContain(name);
    for (const name of [
      'gp3',
      'standard-rwo',
      'managed-csi',
      'rook-ceph-block',
    ])
      expect(bare.stderr).toContain(name);

    const noClass = helm([
      'template',
      'demo',
      chartDir,
      '--set',
      'image.repository=registry.example.com/image-pipeline',
    ]);
    expect(noClass.status).not.toBe(0);
    expect(noClass.stderr).toContain(
      'storage.storageClass or storage.existingClaim is required',
    );
    expect(noClass.stderr).not.toContain('image.repository is required');

    const withClass = renderChart(undefined, [
      'image.repository=registry.example.com/image-pipeline',
      'storage.storageClass=efs-sc',
    ]);
    expect(
      find(withClass, 'PersistentVolumeClaim', 'demo-image-pipeline-storage')
        .spec,
    ).toMatchObject({
      accessModes: ['ReadWriteMany'],
      storageClassName: 'efs-sc',
    });
    const withClaim = renderChart(undefined, [
      'image.repository=registry.example.com/image-pipeline',
      'storage.existingClaim=pipeline-storage',
    ]);
    expect(withClaim.some((o) => o.kind === 'PersistentVolumeClaim')).toBe(
      false,
    );
    // Only the filesystem storage exists so far; its type is a value, for the
    // ones to come.
    expect(
      template('--values', defaults, '--set', 'storage.type=nfs').stderr,
    ).toContain('storage.type');
  });

  test("image.digest pins the app image and the in-chart services' images", () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const objects = renderChart(defaults, [
      `image.digest=${digest}`,
      `rabbitmq.image.digest=sha256:${'b'.repeat(64)}`,
    ]);
    for (const workload of workloads(objects)) {
      for (const container of containersOf(podSpecOf(workload))) {
        if (container.name === 'rabbitmq')
          expect(container.image).toBe(
            `rabbitmq:3.13.7-management@sha256:${'b'.repeat(64)}`,
          );
        else if (container.name === 'postgresql')
          expect(container.image).toBe('postgres:17-bookworm');
        else
          expect({
            at: `${label(workload)} ${container.name}`,
            image: container.image,
          }).toEqual({
            at: `${label(workload)} ${container.name}`,
            image: `registry.example.com/image-pipeline:0.1.0@${digest}`,
          });
      }
    }
    expect(
      template('--values', defaults, '--set', 'image.digest=latest').status,
    ).not.toBe(0);
  });

  test('Argo CD: the migration and broker users Jobs run once the services they need are up, before the apps', () => {
    const inChart = renderChart(defaults);
    const migrate = find(inChart, 'Job', 'demo-image-pipeline-migrate').metadata
      .annotations!;
    // Argo CD would map post-install,pre-upgrade to PreSync and PostSync: the
    // PreSync run finds no database.
    expect(migrate).toMatchObject({
      'argocd.argoproj.io/hook': 'Sync',
      'argocd.argoproj.io/sync-wave': '1',
      'argocd.argoproj.io/hook-delete-policy':
        'BeforeHookCreation,HookSucceeded',
    });
    expect(migrate['helm.sh/hook']).toBe('post-install,pre-upgrade');
    // A PostSync users Job would wait for apps that wait for their broker
    // users.
    expect(
      find(inChart, 'Job', 'demo-image-pipeline-rabbitmq-users').metadata
        .annotations,
    ).toMatchObject({
      'argocd.argoproj.io/hook': 'Sync',
      'argocd.argoproj.io/sync-wave': '1',
    });
    const waves = (objects: K8sObject[]) =>
      Object.fromEntries(
        objects.map((o) => [
          label(o),
          o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? '0',
        ]),
      );
    const wave = waves(inChart);
    for (const name of ['producer', 'image-worker', 'results-writer'])
      expect(wave[`Deployment/demo-image-pipeline-${name}`]).toBe('2');
    // Bound on first use by many classes: with the apps, or it waits for them
    // for ever.
    expect(wave['PersistentVolumeClaim/demo-image-pipeline-storage']).toBe('2');
    for (const name of [
      'StatefulSet/demo-image-pipeline-rabbitmq',
      'StatefulSet/demo-image-pipeline-postgresql',
      'Secret/demo-image-pipeline-credentials',
    ])
      expect(wave[name]).toBe('0');

    // With an external database (its Secret made beforehand) the migration runs
    // before everything.
    const external = find(
      renderChart(valueSets.external),
      'Job',
      'demo-image-pipeline-migrate',
    ).metadata.annotations!;
    expect(external['argocd.argoproj.io/hook']).toBe('PreSync');
    expect(external['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    for (const job of ofKind(inChart, 'Job'))
      expect({
        job: label(job),
        ttl: job.spec.ttlSecondsAfterFinished,
      }).toEqual({ job: label(job), ttl: 86400 });
  });

  test.each(['default', 'keda', 'rabbitmq-cluster'])(
    'with credentials.existingSecret (%s values) every consumer of a credential reads that Secret, and none is generated',
    (set) => {
      const objects = renderChart(valueSets[set], [
        'credentials.existingSecret=pipeline-credentials',
        'producer.adminApiKey.existingSecret=pipeline-admin',
      ]);
      expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
      const names = new Set<string>();
      const collect = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(collect);
        else if (node && typeof node === 'object') {
          for (const [key, value] of Object.entries(node)) {
            if (
              (key === 'secretKeyRef' || key === 'secretRef') &&
              value &&
              typeof value === 'object'
            )
              names.add((value as { name: string }).name);
            collect(value);
          }
        }
      };
      collect(objects);
      for (const auth of ofKind(objects, 'TriggerAuthentication'))
        for (const ref of auth.spec.secretTargetRef) names.add(ref.name);
      expect([...names].sort()).toEqual([
        'pipeline-admin',
        'pipeline-credentials',
      ]);
      // The generated Secret's keys, read from yours.
      const rabbitmq = podSpecOf(
        find(objects, 'StatefulSet', 'demo-image-pipeline-rabbitmq'),
      ).containers[0];
      expect(envOf(rabbitmq, 'RABBITMQ_DEFAULT_PASS')?.valueFrom).toEqual({
        secretKeyRef: {
          name: 'pipeline-credentials',
          key: 'RABBITMQ_PASSWORD',
        },
      });
      expect(
        envOf(podSpecOf(worker(objects)).containers[0], 'AMQP_URL')?.valueFrom,
      ).toEqual({
        secretKeyRef: { name: 'pipeline-credentials', key: 'AMQP_URL_WORKER' },
      });

      const both = template(
        '--values',
        valueSets[set],
        '--set',
        'credentials.existingSecret=pipeline-credentials',
        '--set',
        'postgresql.auth.password=chosen',
      );
      expect(both.status).not.toBe(0);
      expect(both.stderr).toContain(
        'postgresql.auth.password and credentials.existingSecret are both set',
      );
    },
  );

  test("a password given in values that differs from the installed release's Secret fails the render; the same one, or none, keeps it", () => {
    // `lookup` finds nothing under `helm template`: the template's logic gets
    // the release's Secret the lookup would return.
    withChartCopy((copy) => {
      const b64 = (text: string) => Buffer.from(text).toString('base64');
      const installed = {
        RABBITMQ_PASSWORD: b64('brokerPassword1234'),
        POSTGRES_PASSWORD: b64('databasePassword1234'),
        RABBITMQ_WORKER_PASSWORD: b64('workerPassword123456'),
      };
      const data = Object.entries(installed)
        .map(([key, value]) => `"${key}" "${value}"`)
        .join(' ');
      writeFileSync(
        join(copy, 'templates', 'installed.yaml'),
        `{{- include "pipeline.credentials" (dict "root" . "data" (dict ${data})) }}\n`,
      );
      const render = (...sets: string[]) =>
        helm([
          'template',
          'demo',
          copy,
          '--namespace',
          'pipeline',
          '--values',
          defaults,
          '--show-only',
          'templates/installed.yaml',
          ...sets.flatMap((s) => ['--set', s]),
        ]);
      const decoded = (result: ReturnType<typeof render>, key: string) =>
        Buffer.from(
          ofKind(parseManifests(result.stdout), 'Secret')[0].data![key],
          'base64',
        ).toString();

      const kept = render();
      expect(kept.status).toBe(0);
      expect(decoded(kept, 'RABBITMQ_PASSWORD')).toBe('brokerPassword1234');
      expect(decoded(kept, 'POSTGRES_PASSWORD')).toBe('databasePassword1234');
      expect(decoded(kept, 'RABBITMQ_WORKER_PASSWORD')).toBe(
        'workerPassword123456',
      );
      expect(
        decoded(
          render('rabbitmq.auth.password=brokerPassword1234'),
          'RABBITMQ_PASSWORD',
        ),
      ).toBe('brokerPassword1234');

      const changedBroker = render('rabbitmq.auth.password=anotherPassword99');
      expect(changedBroker.status).not.toBe(0);
      expect(changedBroker.stderr).toContain(
        'rabbitmq.auth.password differs from RABBITMQ_PASSWORD in the Secret demo-image-pipeline-credentials',
      );
      expect(changedBroker.stderr).toContain('rabbitmqctl change_password');
      const changedDatabase = render(
        'postgresql.auth.password=anotherPassword99',
      );
      expect(changedDatabase.status).not.toBe(0);
      expect(changedDatabase.stderr).toContain(
        'postgresql.auth.password differs from POSTGRES_PASSWORD',
      );
      // A first install has nothing to differ from.
      expect(
        template(
          '--values',
          defaults,
          '--set',
          'postgresql.auth.password=anotherPassword99',
        ).status,
      ).toBe(0);
    });
  });

  test("a stopping worker gets the time to finish every job it is processing: grace and SHUTDOWN_GRACE_MS from the worker's own longest drain", () => {
    const check = (sets: string[], env: Record<string, string>) => {
      const deployment = worker(renderChart(defaults, sets));
      const pod = podSpecOf(deployment);
      const container = pod.containers[0];
      // What the worker itself computes from the settings the chart gives it.
      const config = loadConfig(WorkerConfig, {
        ...env,
        AMQP_CONSUMER_TIMEOUT_MS: envOf(container, 'AMQP_CONSUMER_TIMEOUT_MS')
          ?.value,
      });
      const hold = longestDrainMs(config);
      expect(envOf(container, 'SHUTDOWN_GRACE_MS')).toEqual({
        name: 'SHUTDOWN_GRACE_MS',
        value: String(hold),
      });
      expect(
        loadConfig(WorkerConfig, {
          ...env,
          SHUTDOWN_GRACE_MS: String(hold),
          AMQP_CONSUMER_TIMEOUT_MS: '7200000',
        }).SHUTDOWN_GRACE_MS,
      ).toBe(hold);
      // The drain covers the job limit, and the grace the drain.
      expect(hold).toBeGreaterThanOrEqual(config.JOB_TIMEOUT_S * 1000);
      expect(
        (pod.terminationGracePeriodSeconds ?? 0) * 1000,
      ).toBeGreaterThanOrEqual(hold + 5000);
      return pod.terminationGracePeriodSeconds;
    };
    // 120 s plus two 10 s confirms: 140 s, and 10 s to close.
    expect(check([], {})).toBe(150);
    expect(
      check(
        [
          'imageWorker.env.JOB_TIMEOUT_S=300',
          'imageWorker.env.WORKER_PREFETCH=4',
          'rabbitmq.consumerTimeoutMs=7200000',
        ],
        { JOB_TIMEOUT_S: '300', WORKER_PREFETCH: '4' },
      ),
    ).toBe(330);
    // What it holds beyond what it processes does not lengthen the drain.
    expect(
      check(['imageWorker.env.WORKER_PREFETCH=8'], { WORKER_PREFETCH: '8' }),
    ).toBe(150);

    const short = template(
      '--values',
      defaults,
      '--set',
      'imageWorker.terminationGracePeriodSeconds=40',
    );
    expect(short.status).not.toBe(0);
    expect(short.stderr).toContain(
      "imageWorker.terminationGracePeriodSeconds (40 s) is shorter than the workers' drain (140000 ms",
    );
    // A drain of your own is the one the grace must cover.
    const own = worker(
      renderChart(defaults, [
        'imageWorker.env.SHUTDOWN_GRACE_MS=60000',
        'imageWorker.terminationGracePeriodSeconds=70',
      ]),
    );
    expect(podSpecOf(own).terminationGracePeriodSeconds).toBe(70);
    expect(
      podSpecOf(own).containers[0].env?.filter(
        (e) => e.name === 'SHUTDOWN_GRACE_MS',
      ),
    ).toEqual([{ name: 'SHUTDOWN_GRACE_MS', value: '60000' }]);
    expect(
      template(
        '--values',
        defaults,
        '--set',
        'imageWorker.env.SHUTDOWN_GRACE_MS=60000',
        '--set',
        'imageWorker.terminationGracePeriodSeconds=62',
      ).status,
    ).not.toBe(0);
  });

  test('the producer keeps serving while it leaves the endpoints (preStop), and its grace covers that and its drain', () => {
    const pod = podSpecOf(
      find(renderChart(defaults), 'Deployment', 'demo-image-pipeline-producer'),
    );
    expect(pod.containers[0].lifecycle).toEqual({
      preStop: { exec: { command: ['sleep', '10'] } },
    });
    // 10 s of preStop, 25 s of SHUTDOWN_GRACE_MS, 5 s to close.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(40);
    const short = template(
      '--values',
      defaults,
      '--set',
      'producer.terminationGracePeriodSeconds=30',
    );
    expect(short.status).not.toBe(0);
    expect(short.stderr).toContain(
      'producer.terminationGracePeriodSeconds (30 s) is shorter than producer.preStopSleepSeconds (10 s)',
    );
  });

  test.each(Object.keys(valueSets))(
    'pod templates (%s values) carry no label that changes with the chart version; podLabels are added',
    (set) => {
      for (const workload of workloads(renderChart(valueSets[set]))) {
        const labels = podTemplateOf(workload).metadata.labels;
        expect({
          at: label(workload),
          chart: labels?.['helm.sh/chart'],
          version: labels?.['app.kubernetes.io/version'],
        }).toEqual({
          at: label(workload),
          chart: undefined,
          version: undefined,
        });
        const selector =
          'selector' in workload.spec
            ? workload.spec.selector.matchLabels
            : undefined;
        for (const [key, value] of Object.entries(selector ?? {}))
          expect(labels?.[key]).toBe(value);
      }
      const labelled = renderChart(valueSets[set], [
        'producer.podLabels.team=images',
        'postgresql.podLabels.backup=daily',
      ]);
      expect(
        podTemplateOf(
          find(labelled, 'Deployment', 'demo-image-pipeline-producer'),
        ).metadata.labels?.team,
      ).toBe('images');
      const postgres = labelled.find(
        (o) =>
          o.kind === 'StatefulSet' &&
          o.metadata.name === 'demo-image-pipeline-postgresql',
      );
      if (postgres)
        expect(podTemplateOf(postgres).metadata.labels?.backup).toBe('daily');
    },
  );

  test('a chart upgrade leaves the pod templates of the database and the broker as they are: no restart', () => {
    const statefulSets = (chart: string) =>
      parseManifests(
        helm([
          'template',
          'demo',
          chart,
          '--namespace',
          'pipeline',
          '--values',
          valueSets['rabbitmq-cluster'],
        ]).stdout,
      )
        .filter((o) => o.kind === 'StatefulSet')
        .map((o) => ({ name: o.metadata.name, template: podTemplateOf(o) }));
    const before = statefulSets(chartDir);
    expect(before.map((s) => s.name).sort()).toEqual([
      'demo-image-pipeline-postgresql',
      'demo-image-pipeline-rabbitmq',
    ]);
    const after = withChartCopy((copy) => {
      const chart = join(copy, 'Chart.yaml');
      writeFileSync(
        chart,
        readFileSync(chart, 'utf8')
          .replace(/^version: .*$/m, 'version: 9.9.9')
          .replace(/^appVersion: .*$/m, 'appVersion: "9.9.9"'),
      );
      return statefulSets(copy);
    });
    expect(after).toEqual(before);
  });

  test('KEDA takes over the HPA a release already has, so that switching to it is not refused by its webhook', () => {
    const hpa = find(
      renderChart(defaults),
      'HorizontalPodAutoscaler',
      'demo-image-pipeline-image-worker',
    );
    const scaled = find(
      renderChart(valueSets.keda),
      'ScaledObject',
      'demo-image-pipeline-image-worker',
    );
    expect(
      scaled.metadata.annotations?.[
        'scaledobject.keda.sh/transfer-hpa-ownership'
      ],
    ).toBe('true');
    expect(scaled.spec.advanced?.horizontalPodAutoscalerConfig?.name).toBe(
      hpa.metadata.name,
    );
  });

  test("RabbitMQ: the memory watermark counts from the container's limit; a cluster node leaves only with quorum kept, on a node of its own if it can", () => {
    const conf = (objects: K8sObject[]) =>
      find(objects, 'ConfigMap', 'demo-image-pipeline-rabbitmq-config').data![
        'pipeline.conf'
      ];
    expect(conf(renderChart(defaults))).toMatch(
      /^total_memory_available_override_value = 1073741824$/m,
    );
    expect(
      conf(renderChart(defaults, ['rabbitmq.resources.limits.memory=1536Mi'])),
    ).toMatch(/^total_memory_available_override_value = 1610612736$/m);
    expect(
      conf(renderChart(defaults, ['rabbitmq.resources.limits.memory=2G'])),
    ).toMatch(/^total_memory_available_override_value = 2000000000$/m);
    expect(
      conf(renderChart(defaults, ['rabbitmq.resources.limits=null'])),
    ).not.toContain('total_memory_available_override_value');

    const single = podSpecOf(
      find(
        renderChart(defaults),
        'StatefulSet',
        'demo-image-pipeline-rabbitmq',
      ),
    );
    expect(single.containers[0].lifecycle).toBeUndefined();
    expect(single.affinity).toBeUndefined();
    const cluster = podSpecOf(
      find(
        renderChart(valueSets['rabbitmq-cluster']),
        'StatefulSet',
        'demo-image-pipeline-rabbitmq',
      ),
    );
    const preStop =
      cluster.containers[0].lifecycle?.preStop?.exec?.command.join(' ') ?? '';
    expect(preStop).toMatch(
      /rabbitmq-upgrade await_online_quorum_plus_one -t (\d+) .*; rabbitmq-upgrade drain/,
    );
    expect(Number(/-t (\d+)/.exec(preStop)![1])).toBeLessThan(
      cluster.terminationGracePeriodSeconds!,
    );
    expect(
      cluster.affinity?.podAntiAffinity
        ?.preferredDuringSchedulingIgnoredDuringExecution,
    ).toEqual([
      {
        weight: 100,
        podAffinityTerm: {
          topologyKey: 'kubernetes.io/hostname',
          labelSelector: {
            matchLabels: {
              'app.kubernetes.io/name': 'image-pipeline',
              'app.kubernetes.io/instance': 'demo',
              'app.kubernetes.io/component': 'rabbitmq',
            },
          },
        },
      },
    ]);
    const own = podSpecOf(
      find(
        renderChart(valueSets['rabbitmq-cluster'], [
          'rabbitmq.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=broker',
          'rabbitmq.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
        ]),
        'StatefulSet',
        'demo-image-pipeline-rabbitmq',
      ),
    );
    expect(Object.keys(own.affinity ?? {})).toEqual(['nodeAffinity']);
  });

  test('workers request close to their limit, enough for four 50-megapixel images at full size', () => {
    const { requests, limits } = podSpecOf(worker(renderChart(defaults)))
      .containers[0].resources!;
    const bytes = (quantity: string) => {
      const [, amount, unit] = /^(\d+)(Mi|Gi)$/.exec(quantity)!;
      return Number(amount) * 2 ** (unit === 'Gi' ? 30 : 20);
    };
    expect(
      bytes(requests!.memory) / bytes(limits!.memory),
    ).toBeGreaterThanOrEqual(0.75);
    // Measured: about 1.7 GiB for four at once (docs/kubernetes.md), plus the
    // worker itself.
    expect(bytes(limits!.memory)).toBeGreaterThanOrEqual(2 * 2 ** 30);
    expect(Number(requests!.cpu)).toBeGreaterThanOrEqual(1);
  });

  test('NetworkPolicy: internal ranges for URL sources (and the workers told the same), IPv6, KEDA where it runs', () => {
    const keda = renderChart(valueSets.keda);
    const web = find(
      keda,
      'NetworkPolicy',
      'demo-image-pipeline-image-worker',
    ).spec.egress!.find((rule) => rule.to)!;
    expect(web.to).toEqual([
      { ipBlock: objectContaining({ cidr: '0.0.0.0/0' }) },
      {
        ipBlock: {
          cidr: '::/0',
          except: ['::1/128', '::ffff:0:0/96', 'fc00::/7', 'fe80::/10'],
        },
      },
      { ipBlock: { cidr: '10.20.0.0/16' } },
    ]);
    expect(
      envOf(podSpecOf(worker(keda)).containers[0], 'SOURCE_URL_ALLOWLIST'),
    ).toEqual({ name: 'SOURCE_URL_ALLOWLIST', value: '10.20.0.0/16' });
    expect(
      envOf(
        podSpecOf(worker(renderChart(defaults))).containers[0],
        'SOURCE_URL_ALLOWLIST',
      ),
    ).toEqual({ name: 'SOURCE_URL_ALLOWLIST', value: '' });
    const v4only = renderChart(defaults, [
      'networkPolicy.urlSources.ipv6Cidr=',
    ]);
    expect(
      find(
        v4only,
        'NetworkPolicy',
        'demo-image-pipeline-image-worker',
      ).spec.egress!.find((rule) => rule.to)!.to,
    ).toHaveLength(1);
    // AKS's KEDA add-on runs in kube-system.
    const aks = renderChart(valueSets.keda, [
      'networkPolicy.kedaFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=kube-system',
    ]);
    expect(
      find(aks, 'NetworkPolicy', 'demo-image-pipeline-rabbitmq').spec.ingress,
    ).toContainEqual({
      ports: [
        { port: 5672, protocol: 'TCP' },
        { port: 15672, protocol: 'TCP' },
      ],
      from: [
        {
          namespaceSelector: {
            matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
          },
        },
      ],
    });
  });

  test.each(Object.keys(valueSets))(
    'every pod of the %s values gets imagePullSecrets and the scheduling values of its component',
    (set) => {
      const objects = renderChart(valueSets[set], [
        'imagePullSecrets[0].name=registry-credentials',
      ]);
      for (const workload of workloads(objects))
        expect({
          at: label(workload),
          secrets: podSpecOf(workload).imagePullSecrets,
        }).toEqual({
          at: label(workload),
          secrets: [{ name: 'registry-credentials' }],
        });
      const spread = [
        {
          maxSkew: 1,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: {
            matchLabels: { 'app.kubernetes.io/component': 'image-worker' },
          },
        },
      ];
      const dir = mkdtempSync(join(tmpdir(), 'scheduling-'));
      try {
        const file = join(dir, 'values.yaml');
        writeFileSync(
          file,
          JSON.stringify({
            imageWorker: {
              priorityClassName: 'pipeline-batch',
              topologySpreadConstraints: spread,
            },
          }),
        );
        const pod = podSpecOf(
          worker(renderChart(valueSets[set], [], 'demo', 'pipeline', [file])),
        );
        expect({
          priorityClassName: pod.priorityClassName,
          topologySpreadConstraints: pod.topologySpreadConstraints,
        }).toEqual({
          priorityClassName: 'pipeline-batch',
          topologySpreadConstraints: spread,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test("the apps run as the chart's ServiceAccount (for workload identities), or one of yours, without its token", () => {
    const objects = renderChart(defaults, [
      'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/pipeline',
    ]);
    const account = find(objects, 'ServiceAccount', 'demo-image-pipeline');
    expect(account.automountServiceAccountToken).toBe(false);
    expect(account.metadata.annotations).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/pipeline',
    });
    for (const name of ['producer', 'image-worker', 'results-writer']) {
      const pod = podSpecOf(
        find(objects, 'Deployment', `demo-image-pipeline-${name}`),
      );
      expect({
        name,
        account: pod.serviceAccountName,
        token: pod.automountServiceAccountToken,
      }).toEqual({ name, account: 'demo-image-pipeline', token: false });
    }
    // The migration may run before the install: it uses the chart's account
    // only if it exists by then (yours).
    expect(
      podSpecOf(find(objects, 'Job', 'demo-image-pipeline-migrate'))
        .serviceAccountName,
    ).toBeUndefined();
    const yours = renderChart(defaults, [
      'serviceAccount.create=false',
      'serviceAccount.name=pipeline-apps',
    ]);
    expect(yours.some((o) => o.kind === 'ServiceAccount')).toBe(false);
    expect(
      podSpecOf(find(yours, 'Job', 'demo-image-pipeline-migrate'))
        .serviceAccountName,
    ).toBe('pipeline-apps');
    expect(
      podSpecOf(find(yours, 'Deployment', 'demo-image-pipeline-producer'))
        .serviceAccountName,
    ).toBe('pipeline-apps');
  });

  test('the chart has what Artifact Hub shows: a README with the install commands', () => {
    const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
    for (const text of [
      'helm install',
      'image.repository',
      'storage.storageClass',
      'credentials.existingSecret',
      'argocd',
    ])
      expect(readme).toContain(text);
  });

  test('what these values add renders objects valid against the Kubernetes API schemas', () => {
    const objects = renderChart(valueSets['rabbitmq-cluster'], [
      'credentials.existingSecret=pipeline-credentials',
      `image.digest=sha256:${'c'.repeat(64)}`,
      'serviceAccount.annotations.iam\\.gke\\.io/gcp-service-account=pipeline@project.iam.gserviceaccount.com',
      'producer.priorityClassName=pipeline',
      'imageWorker.keda.enabled=true',
      'networkPolicy.urlSources.extraCidrs[0]=10.20.0.0/16',
    ]);
    expect(validateAgainstSchemas(objects)).toEqual([]);
  });
});
