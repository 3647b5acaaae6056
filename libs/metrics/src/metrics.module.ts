import { Controller, DynamicModule, Get, Header, Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { createRegistry } from './metrics';

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

/** `GET /metrics` on the app's HTTP port, and the registry its metrics register in. */
@Module({})
export class MetricsModule {
  static forRoot(app: string): DynamicModule {
    return {
      module: MetricsModule,
      global: true,
      controllers: [MetricsController],
      providers: [{ provide: Registry, useFactory: () => createRegistry(app) }],
      exports: [Registry],
    };
  }
}
