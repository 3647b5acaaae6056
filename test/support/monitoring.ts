// The Grafana dashboard and the alert rules as the checks read them, and the
// metric names their PromQL asks for: what test/deploy/monitoring.spec.ts
// checks against the metrics the apps define, and the end-to-end test against
// a scrape of the running apps.
import { parseYaml, readRepoFile } from '../deploy/tools';

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

/** PromQL's words that are not metric names where no `(` follows them. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads: what is left once strings,
 * label matchers, ranges, grouping clauses, Grafana's variables, numbers and
 * function calls are taken out. A sample's name as scraped: `x_bucket` of a
 * histogram `x`.
 */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(
      /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi,
      ' ',
    )
    .replace(/\boffset\s+-?\w+/gi, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/(?<![\w:])\d+(?:\.\d*)?(?:e[+-]?\d+)?(?![\w:])/gi, ' ');
  const names = [...bare.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)]
    .filter(([, name, call]) => !call && !KEYWORDS.has(name.toLowerCase()))
    .map(([, name]) => name);
  return [...new Set(names)];
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
