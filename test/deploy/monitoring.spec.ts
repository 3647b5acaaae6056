// The Grafana dashboard (deploy/grafana), the alert rules
// (helm/image-pipeline/files/alert-rules.yaml) and the chart's ServiceMonitor
// and PrometheusRule: valid as what they are, and asking only for metrics the
// apps define. test/e2e/pipeline.spec.ts checks the same names against a
// scrape of the running apps.
import {
  createRegistry,
  ProducerMetrics,
  WorkerMetrics,
  WriterMetrics,
} from '@pipeline/metrics';
import { Topology } from '@pipeline/messaging';
import {
  alertRulesOf,
  metricNamesIn,
  monitoringQueries,
  readAlertRules,
  readDashboard,
  sampleNamesOf,
  unknownMetrics,
} from '../support/monitoring';
import {
  containersOf,
  find,
  K8sObject,
  ofKind,
  podSpecOf,
  readRepoFile,
  renderChart,
  validateAgainstSchemas,
  valueSets,
} from './tools';
import { stringMatching } from '../support/matchers';

jest.setTimeout(60_000);

/** Every metric the three apps define, as sample names. */
async function definedSampleNames(): Promise<Set<string>> {
  const registries = ['producer', 'image-worker', 'results-writer'].map(
    createRegistry,
  );
  new ProducerMetrics(registries[0], () => Promise.resolve([]));
  new WorkerMetrics(
    registries[1],
    4,
    () => 0,
    () => 0,
  );
  new WriterMetrics(registries[2]);
  const families = await Promise.all(
    registries.map((registry) => registry.getMetricsAsJSON()),
  );
  return sampleNamesOf(
    families.flat().map(({ name, type }) => ({ name, type: String(type) })),
  );
}

const RELEASE = 'demo-image-pipeline';
let monitoring: K8sObject[];
beforeAll(() => {
  monitoring = renderChart(valueSets.monitoring);
});

describe('PromQL metric names', () => {
  test.each([
    [
      'histogram_quantile(0.95, sum by (le, operation) (rate(pipeline_job_duration_seconds_bucket{outcome="succeeded"}[$__rate_interval])))',
      ['pipeline_job_duration_seconds_bucket'],
    ],
    [
      'sum(rate(a_total{status=~"5..", route!~"/health/.*"}[5m])) / sum without (pod) (rate(b_count[5m])) > 0.05',
      ['a_total', 'b_count'],
    ],
    [
      'max by (q) (x{q=~".+\\\\.jobs"}) == 0 and on (namespace) y offset 15m unless z',
      ['x', 'y', 'z'],
    ],
    ['avg(ratio) * 1e3 + count(up) - 2', ['ratio', 'up']],
  ])('%s reads %j', (expr, names) => {
    expect(metricNamesIn(expr)).toEqual(names);
  });

  test('an expression that is not PromQL is refused, naming where', () => {
    expect(() => metricNamesIn('sum(rate(x[5m]) /')).toThrow(/not PromQL/);
    expect(() => metricNamesIn('max by queue (x)')).toThrow(/not PromQL/);
  });
});

describe('Grafana dashboard', () => {
  const dashboard = readDashboard();

  test('is a dashboard Grafana provisions: uid, title, schemaVersion, a Prometheus data source variable, panels with queries', () => {
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    expect(dashboard.title).toBe('Image pipeline');
    expect(Number.isInteger(dashboard.schemaVersion)).toBe(true);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating?.list).toContainEqual(
      expect.objectContaining({
        name: 'datasource',
        type: 'datasource',
        query: 'prometheus',
      }),
    );
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect({ title: panel.title, type: panel.type }).toEqual({
        title: panel.title,
        type: stringMatching(/^(timeseries|stat)$/),
      });
      const { x, w, h } = panel.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      expect(h).toBeGreaterThan(0);
      expect(panel.datasource).toEqual({
        type: 'prometheus',
        uid: '${datasource}',
      });
      expect(panel.targets?.length).toBeGreaterThan(0);
      const refIds = panel.targets!.map((target) => target.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      for (const target of panel.targets!)
        expect(target.expr.trim()).not.toBe('');
    }
  });

  test('shows what operators asked for: queues, throughput, durations by operation, failures, workers, the writer, rate limits', () => {
    const titles = dashboard.panels.map((panel) => panel.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Queue depths',
        'Throughput',
        'Job duration by operation',
        'Failures by code',
        'Worker utilisation',
        'Writer lag',
        'Rate-limit refusals',
      ]),
    );
  });
});

describe('alert rules', () => {
  const rules = alertRulesOf(readAlertRules());
  const runbook = readRepoFile('docs/monitoring.md');

  test('jobs stuck, dead letters growing, no workers, writer lagging, 5xx rate: each with for, severity, summary, description and a runbook section', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'PipelineJobsStuck',
        'PipelineDeadLettersGrowing',
        'PipelineNoWorkers',
        'PipelineWriterLagging',
        'PipelineHttp5xxRate',
      ]),
    );
    for (const rule of rules) {
      expect({ alert: rule.alert, for: rule.for }).toEqual({
        alert: rule.alert,
        for: stringMatching(/^\d+[smh]$/),
      });
      expect(['warning', 'critical']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
      expect(rule.annotations?.description).toBeTruthy();
      expect(rule.annotations?.runbook).toBe(
        `docs/monitoring.md#${rule.alert.toLowerCase()}`,
      );
      expect(runbook).toMatch(new RegExp(`^### ${rule.alert}$`, 'm'));
    }
  });

  test('the queue matchers of the rules and the dashboard name real queues of the topology', () => {
    const queues = new Topology('pipeline', 5).queues;
    const matchers = monitoringQueries().flatMap(({ where, expr }) =>
      [...expr.matchAll(/queue=~"((?:[^"\\]|\\.)*)"/g)].map((match) => ({
        where,
        // PromQL's string escapes, then an anchored regular expression.
        pattern: new RegExp(`^(?:${match[1].replace(/\\\\/g, '\\')})$`),
      })),
    );
    expect(matchers.length).toBeGreaterThan(0);
    for (const { where, pattern } of matchers)
      expect({
        where,
        matches: queues.some((queue) => pattern.test(queue)),
      }).toEqual({ where, matches: true });
    // Anchored: the jobs queue's matcher leaves out its dead-letter and
    // delay queues.
    const jobs = matchers.find(
      ({ where }) => where === 'alert PipelineNoWorkers',
    );
    expect(queues.filter((queue) => jobs!.pattern.test(queue))).toEqual([
      'pipeline.jobs',
    ]);
  });
});

describe('every metric the dashboard and the alerts read', () => {
  test('is one the apps define (libs/metrics)', async () => {
    const defined = await definedSampleNames();
    expect(unknownMetrics(defined)).toEqual([]);
    // The check sees a metric that is missing.
    defined.delete('pipeline_queue_consumers');
    expect(unknownMetrics(defined)).toContainEqual({
      where: 'alert PipelineNoWorkers',
      unknown: ['pipeline_queue_consumers'],
    });
  });
});

describe('chart: ServiceMonitor', () => {
  test('the ServiceMonitor scrapes /metrics of the three apps through a headless Service each, on the port the app serves it on', () => {
    const monitor = find(monitoring, 'ServiceMonitor', RELEASE);
    expect(monitor.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(monitor.spec.namespaceSelector).toEqual({
      matchNames: ['pipeline'],
    });
    expect(monitor.spec.endpoints).toEqual([
      expect.objectContaining({ port: 'metrics', path: '/metrics' }),
    ]);
    const selected = ofKind(monitoring, 'Service').filter((service) =>
      Object.entries(monitor.spec.selector.matchLabels!).every(
        ([key, value]) => service.metadata.labels?.[key] === value,
      ),
    );
    expect(selected.map((s) => s.metadata.name).sort()).toEqual(
      ['image-worker', 'producer', 'results-writer'].map(
        (app) => `${RELEASE}-${app}-metrics`,
      ),
    );
    // The port each app's METRICS_PORT or PORT names: where /metrics is.
    const metricsPortVariable: Record<string, string> = {
      producer: 'METRICS_PORT',
      'image-worker': 'PORT',
      'results-writer': 'PORT',
    };
    for (const service of selected) {
      expect(service.spec.clusterIP).toBe('None');
      const app = service.spec.selector!['app.kubernetes.io/component'];
      const container = containersOf(
        podSpecOf(find(monitoring, 'Deployment', `${RELEASE}-${app}`)),
      ).find((c) => c.name === app)!;
      const port = service.spec.ports.find((p) => p.name === 'metrics')!;
      const target = container.ports!.find((p) => p.name === port.targetPort)!;
      const served = container.env!.find(
        (e) => e.name === metricsPortVariable[app],
      )!.value;
      expect({ app, port: target.containerPort }).toEqual({
        app,
        port: Number(served),
      });
      expect(port.port).toBe(target.containerPort);
    }
    // Scraped by the ServiceMonitor alone: the ports are open, no annotations.
    for (const app of ['producer', 'image-worker', 'results-writer']) {
      const policy = find(monitoring, 'NetworkPolicy', `${RELEASE}-${app}`);
      expect(JSON.stringify(policy.spec.ingress)).toMatch(
        app === 'producer' ? /"port":"metrics"/ : /"port":"http"/,
      );
    }
  });
});

describe('chart: PrometheusRule, off by default, and checked against the CRDs', () => {
  test('off by default: no ServiceMonitor, PrometheusRule or metrics Services', () => {
    const objects = renderChart(valueSets.default);
    expect(
      objects.filter((o) =>
        ['ServiceMonitor', 'PrometheusRule'].includes(o.kind),
      ),
    ).toEqual([]);
    expect(
      ofKind(objects, 'Service').filter((s) =>
        s.metadata.name.endsWith('-metrics'),
      ),
    ).toEqual([]);
  });

  test('the PrometheusRule carries the alert rules file as it is', () => {
    const rule = find(monitoring, 'PrometheusRule', RELEASE);
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(rule.spec.groups).toEqual(readAlertRules().groups);
  });

  test("the schema check holds them to the Prometheus Operator's CRDs: a misplaced field, a wrong type", () => {
    const monitor = structuredClone(
      find(monitoring, 'ServiceMonitor', RELEASE),
    );
    Object.assign(monitor.spec, { endpoint: monitor.spec.endpoints });
    expect(validateAgainstSchemas([monitor]).join('\n')).toMatch(
      /endpoint"?' does not exist in type 'IServiceMonitorSpec'/,
    );
    const rule = structuredClone(find(monitoring, 'PrometheusRule', RELEASE));
    Object.assign(rule.spec.groups[0].rules[0], { for: 60 });
    expect(validateAgainstSchemas([rule]).join('\n')).toContain(
      'spec/groups/0/rules/0/for must be string',
    );
  });
});
