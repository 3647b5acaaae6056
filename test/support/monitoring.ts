// The Grafana dashboard and the alert rules as the checks read them, and the
// metric names their PromQL asks for (parsed with Prometheus' grammar): what
// test/deploy/monitoring.spec.ts checks against the metrics the apps define,
// and the end-to-end test against a scrape of the running apps.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseYaml, readRepoFile, schemaModules } from '../deploy/tools';

export const DASHBOARD_FILE = 'deploy/grafana/dashboards/image-pipeline.json';
export const ALERT_RULES_FILE = 'helm/image-pipeline/files/alert-rules.yaml';

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: DashboardTarget[];
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating?: { list: { name: string; type: string; query?: string }[] };
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

export const readDashboard = () =>
  JSON.parse(readRepoFile(DASHBOARD_FILE)) as Dashboard;

export const readAlertRules = () =>
  parseYaml(readRepoFile(ALERT_RULES_FILE)) as RuleFile;

export const alertRulesOf = (file: RuleFile) =>
  file.groups.flatMap((group) => group.rules);

/** Every PromQL expression of the dashboard and the alert rules, named. */
export function monitoringQueries(): { where: string; expr: string }[] {
  const panels = readDashboard().panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `dashboard panel "${panel.title}" ${target.refId}`,
      expr: target.expr,
    })),
  );
  const rules = alertRulesOf(readAlertRules()).map((rule) => ({
    where: `alert ${rule.alert}`,
    expr: rule.expr,
  }));
  return [...panels, ...rules];
}

// Prometheus' own PromQL grammar (the one its web UI parses queries with), from
// the tools folder as the yaml package is: a test tool, not the project's.
interface SyntaxNode {
  name: string;
  from: number;
  to: number;
  type: { isError: boolean };
  node: { parent: { name: string } | null };
}
interface PromqlParser {
  parse(text: string): { iterate(spec: { enter(n: SyntaxNode): void }): void };
}
let promql: PromqlParser | undefined;
function promqlParser(): PromqlParser {
  if (!promql) {
    const path = join(schemaModules, '@prometheus-io', 'lezer-promql');
    if (!existsSync(path))
      throw new Error(
        'the PromQL grammar (.tools/kube-schemas) is missing: run the install block of .ci/run',
      );
    // Found at run time in .tools/, outside the project's dependencies.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    promql = (require(path) as { parser: PromqlParser }).parser;
  }
  return promql;
}

/**
 * The metric names a PromQL expression reads (a sample's name as scraped:
 * `x_bucket` of a histogram `x`), by Prometheus' grammar; throws where the
 * expression is not PromQL. Grafana's interval variables are read as 5m.
 */
export function metricNamesIn(expr: string): string[] {
  const text = expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m');
  const names = new Set<string>();
  promqlParser()
    .parse(text)
    .iterate({
      enter(node) {
        if (node.type.isError)
          throw new Error(
            `not PromQL at ${node.from}: ${text.slice(node.from, node.from + 40) || '(end)'} in ${text}`,
          );
        if (
          node.name === 'Identifier' &&
          node.node.parent?.name === 'VectorSelector'
        )
          names.add(text.slice(node.from, node.to));
      },
    });
  return [...names];
}

/**
 * The sample names metric families can have: a histogram's `_bucket`, `_sum`
 * and `_count`, a summary's `_sum` and `_count`, the name of the rest.
 */
export function sampleNamesOf(
  families: { name: string; type: string }[],
): Set<string> {
  const suffixes: Record<string, string[]> = {
    histogram: ['_bucket', '_sum', '_count'],
    summary: ['', '_sum', '_count'],
  };
  return new Set(
    families.flatMap(({ name, type }) =>
      (suffixes[type.toLowerCase()] ?? ['']).map((suffix) => name + suffix),
    ),
  );
}

/** The queries' metric names that are not among `exported`, by query. */
export function unknownMetrics(
  exported: Set<string>,
): { where: string; unknown: string[] }[] {
  return monitoringQueries()
    .map(({ where, expr }) => ({
      where,
      unknown: metricNamesIn(expr).filter((name) => !exported.has(name)),
    }))
    .filter(({ unknown }) => unknown.length > 0);
}
