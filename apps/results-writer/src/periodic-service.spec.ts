import { PeriodicService } from './periodic-service';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Makes the passes it is given, and keeps its warnings. */
class Passes extends PeriodicService {
  readonly warnings: string[] = [];

  constructor(
    label: string,
    intervalMs: number,
    readonly pass: () => Promise<unknown>,
  ) {
    super(label, intervalMs);
    jest.spyOn(this.logger, 'warn').mockImplementation((message: string) => {
      this.warnings.push(message);
    });
  }

  sweep(): Promise<unknown> {
    return this.pass();
  }
}

describe('PeriodicService', () => {
  it('makes a pass every interval until the app stops, and waits for the pass under way', async () => {
    let runs = 0;
    let finished = 0;
    const service = new Passes('Sweep', 10, async () => {
      runs++;
      await sleep(30);
      finished++;
    });
    service.onApplicationBootstrap();
    await sleep(60);
    await service.onApplicationShutdown();
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(finished).toBe(runs);
    await sleep(50);
    expect(runs).toBe(finished);
  });

  it('logs a failed pass and tries again next time', async () => {
    let runs = 0;
    const service = new Passes('Retention sweep', 5, () =>
      ++runs === 1 ? Promise.reject(new Error('db away')) : sleep(1),
    );
    service.onApplicationBootstrap();
    while (runs < 2) await sleep(5);
    await service.onApplicationShutdown();
    expect(service.warnings).toEqual([
      'Retention sweep failed, trying again next time: db away',
    ]);
  });

  it('never makes a pass with an interval of 0', async () => {
    const pass = jest.fn(() => Promise.resolve());
    const service = new Passes('Sweep', 0, pass);
    service.onApplicationBootstrap();
    await sleep(20);
    await service.onApplicationShutdown();
    expect(pass).not.toHaveBeenCalled();
  });
});
