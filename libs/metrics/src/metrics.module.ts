import { Controller, DynamicModule, Get, Header, Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { createRegistry } from './metrics';
import { METRICS_LISTEN, MetricsServer } from './metrics-server';

@Controller('metrics')
class MetricsController {
  constructor(private readonly registry: Registry) {}

  /** Prometheus' text format. */
  @Get()
  @Header('Cache-Control', 'no-store')
  async scrape(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The registry an app's metrics register in, and `GET /metrics`: on the app's
 * HTTP port, or, given `listen`, on a port of its own (the producer's, whose
 * HTTP port is public).
 */
@Module({})
export class MetricsModule {
  static forRoot(
    app: string,
    listen?: { port: number; host: string },
  ): DynamicModule {
    return {
      module: MetricsModule,
      global: true,
      controllers: listen ? [] : [MetricsController],
      providers: [
        { provide: Registry, useFactory: () => createRegistry(app) },
        ...(listen
          ? [{ provide: METRICS_LISTEN, useValue: listen }, MetricsServer]
          : []),
      ],
      exports: [Registry, ...(listen ? [MetricsServer] : [])],
    };
  }
}
