import { createConnection, createServer, Server, Socket } from 'node:net';

/**
 * A TCP proxy on loopback for fault tests: forwards to a target until told to
 * blackhole (keep connections open, pass nothing: a server that stopped
 * answering), to reset (cut connections, accept new ones) or to refuse (cut
 * connections, refuse new ones: a server that is down).
 */
export class TcpProxy {
  private server?: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private blackholed = false;
  private refusing = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = createConnection({
        host: this.targetHost,
        port: this.targetPort,
      });
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const forget = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('data', (chunk) => this.blackholed || upstream.write(chunk));
      upstream.on('data', (chunk) => this.blackholed || client.write(chunk));
      client.on('error', forget).on('close', forget);
      upstream.on('error', forget).on('close', forget);
    });
    await new Promise<void>((resolve) =>
      this.server!.listen(0, '127.0.0.1', resolve),
    );
    this.port = (this.server.address() as { port: number }).port;
  }

  /**
   * Drops every byte in both directions from now on, without closing anything.
   */
  blackhole(): void {
    this.blackholed = true;
  }

  /**
   * Cuts every connection but accepts new ones: a network blip or a restarted
   * load balancer.
   */
  reset(): void {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  /** Cuts every connection and refuses new ones: a server that went down. */
  refuse(): void {
    this.refusing = true;
    this.reset();
  }

  heal(): void {
    this.blackholed = false;
    this.refusing = false;
  }

  async stop(): Promise<void> {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>(
      (resolve) => this.server?.close(() => resolve()) ?? resolve(),
    );
  }
}
