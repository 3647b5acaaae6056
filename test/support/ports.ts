import { createServer } from 'node:net';

/** Whether nothing listens on this loopback port now. */
export async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive loopback ports that are all free now, taken
 * at random from 20000–31999: below the kernel's ephemeral range (32768 and
 * up), where an outgoing connection could take one before the server that was
 * meant to listen there starts.
 */
export async function freePortBlock(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * (12_000 - count));
    const ports = Array.from({ length: count }, (_, i) => first + i);
    if ((await Promise.all(ports.map(portIsFree))).every(Boolean)) return first;
  }
  throw new Error(
    `No block of ${count} free loopback ports found between 20000 and 31999`,
  );
}
