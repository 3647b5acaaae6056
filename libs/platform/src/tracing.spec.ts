import { ConfigError, loadConfig } from './load-config';
import { SharedConfig } from './settings';
import { activeTraceId, startTracing, tracesUrlOf } from './tracing';

describe('tracing settings', () => {
  it('is off by default: no endpoint, nothing started, no trace id', async () => {
    const config = loadConfig(SharedConfig, {});
    expect(tracesUrlOf(config)).toBeUndefined();
    await expect(startTracing(config, 'producer')).resolves.toBeUndefined();
    expect(activeTraceId()).toBeUndefined();
  });

  it('sends spans to /v1/traces under the endpoint, or to the traces endpoint as given', () => {
    const url = (env: NodeJS.ProcessEnv) =>
      tracesUrlOf(loadConfig(SharedConfig, env));
    expect(url({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      url({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp',
      }),
    ).toBe('https://traces.example/otlp');
  });

  it('names a bad endpoint, service name or delay', () => {
    const problems = () =>
      loadConfig(SharedConfig, {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://user:pw@collector/v1',
        OTEL_SERVICE_NAME: 'two words',
        OTEL_BSP_SCHEDULE_DELAY: '0',
      });
    expect(problems).toThrow(ConfigError);
    for (const problem of [
      'OTEL_EXPORTER_OTLP_ENDPOINT must be empty (no traces) or the http(s):// URL of an OTLP/HTTP endpoint',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be',
      'OTEL_SERVICE_NAME must be',
      'OTEL_BSP_SCHEDULE_DELAY must not be less than 1',
    ])
      expect(problems).toThrow(problem);
  });
});
