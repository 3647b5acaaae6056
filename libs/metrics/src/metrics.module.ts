import { Controller, DynamicModule, Get, Header, Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
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

const METRICS_LISTEN = Symbol('METRICS_LISTEN');

/** `/metrics` on a port of its own, which a deployment keeps inside the cluster while the API is public. */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MetricsServer.name);
  private server?: Server;

  constructor(
    private readonly registry: Registry,
    @Inject(METRICS_LISTEN) private readonly listen: { port: number; host: string },
  ) {}

  /** The port it listens on (the one the OS chose, for port 0). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' }).end(text),
        (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.listen.port, this.listen.host, () => resolve()));
    this.server = server;
    this.logger.log(`metrics on http://${this.listen.host}:${this.port}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }
}

/**
 * The registry an app's metrics register in, and `GET /metrics`: on the app's HTTP port, or,
 * given `listen`, on a port of its own (the producer's, whose HTTP port is public).
 */
@Module({})
export class MetricsModule {
  static forRoot(app: string, listen?: { port: number; host: string }): DynamicModule {
    return {
      module: MetricsModule,
      global: true,
      controllers: listen ? [] : [MetricsController],
      providers: [
        { provide: Registry, useFactory: () => createRegistry(app) },
        ...(listen ? [{ provide: METRICS_LISTEN, useValue: listen }, MetricsServer] : []),
      ],
      exports: [Registry, ...(listen ? [MetricsServer] : [])],
    };
  }
}
