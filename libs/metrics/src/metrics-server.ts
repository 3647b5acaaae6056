import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';

/** Where the MetricsServer listens: `{ port, host }`. */
export const METRICS_LISTEN = Symbol('METRICS_LISTEN');

/**
 * An answer of a route served beside `/metrics`: its status and a JSON body.
 */
export type InternalRoute = () => Promise<{ status: number; body: unknown }>;

/**
 * `/metrics` on a port of its own, which a deployment keeps inside the cluster
 * while the API is public; what only the cluster should see (readiness in
 * detail) can be served here too.
 */
@Injectable()
export class MetricsServer
  implements OnApplicationBootstrap, OnApplicationShutdown
{
  private readonly logger = new Logger(MetricsServer.name);
  private server?: Server;
  private readonly routes = new Map<string, InternalRoute>();

  constructor(
    private readonly registry: Registry,
    @Inject(METRICS_LISTEN)
    private readonly listen: { port: number; host: string },
  ) {}

  /** The port it listens on (the one the OS chose, for port 0). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /**
   * Serves `GET path` on this port as well (before the app starts, or after).
   */
  serve(path: string, route: InternalRoute): void {
    this.routes.set(path, route);
  }

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((request, response) => {
      const path = request.url?.split('?')[0] ?? '';
      const route = this.routes.get(path);
      if (request.method === 'GET' && route) {
        route().then(
          ({ status, body }) =>
            response
              .writeHead(status, {
                'content-type': 'application/json; charset=utf-8',
                'cache-control': 'no-store',
              })
              .end(JSON.stringify(body)),
          (error: Error) =>
            response
              .writeHead(500, { 'content-type': 'text/plain' })
              .end(`${error.message}\n`),
        );
        return;
      }
      if (request.method !== 'GET' || path !== '/metrics') {
        response
          .writeHead(404, { 'content-type': 'text/plain' })
          .end(
            `only GET ${['/metrics', ...this.routes.keys()].join(', ')} ${this.routes.size > 0 ? 'are' : 'is'} served here\n`,
          );
        return;
      }
      this.registry.metrics().then(
        (text) =>
          response
            .writeHead(200, {
              'content-type': this.registry.contentType,
              'cache-control': 'no-store',
            })
            .end(text),
        (error: Error) =>
          response
            .writeHead(500, { 'content-type': 'text/plain' })
            .end(`${error.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) =>
      server
        .once('error', reject)
        .listen(this.listen.port, this.listen.host, () => resolve()),
    );
    this.server = server;
    this.logger.log(
      `metrics on http://${this.listen.host}:${this.port}/metrics`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise((resolve) =>
      this.server ? this.server.close(resolve) : resolve(undefined),
    );
  }
}
