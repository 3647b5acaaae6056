// The parser checks the whole text (throwing on a line that is not Prometheus'
// text format) but folds histograms in a way that loses their labels, so
// samples are looked up here, line by line.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Metrics in Prometheus' text format: parsed (so malformed output fails), and
 * samples found by labels in any order.
 */
export class PrometheusText {
  readonly families: Array<{ name: string; type: string }>;
  private readonly samples: Sample[];

  constructor(text: string) {
    this.families = parsePrometheusTextFormat(text);
    this.samples = text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!match) throw new Error(`not a sample line: ${line}`);
        const labels = Object.fromEntries(
          [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(
            (pair) => [pair[1], pair[2]],
          ),
        );
        return { name: match[1], labels, value: Number(match[3]) };
      });
  }

  /**
   * The value of the sample `name` (e.g. `x_count` of a histogram `x`) whose
   * labels include `labels`.
   */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    return this.samples.find(
      (sample) =>
        sample.name === name &&
        Object.entries(labels).every(
          ([key, value]) => sample.labels[key] === value,
        ),
    )?.value;
  }
}
