import { ChildProcess, spawn } from 'node:child_process';

/** A producer the bench started, and the base URL of its API. */
export interface ProducerProcess {
  base: string;
  child: ChildProcess;
}

/**
 * Starts the producer at `entry` on a free-ish port with `env` added to the
 * bench's own, and waits (up to a minute) until it says it is ready.
 */
export async function startProducer(
  entry: string,
  env: Record<string, string>,
): Promise<ProducerProcess> {
  // Below Linux's ephemeral range (32768 up): no outgoing connection of this
  // machine holds it.
  const port = 22_000 + Math.floor(Math.random() * 1000);
  const child = spawn(process.execPath, [entry], {
    env: {
      ...process.env,
      PORT: String(port),
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'error',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (
    !(await fetch(`${base}/health/ready`).then(
      (response) => response.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error('the producer did not start');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { base, child };
}
