import { PeakRssSampler, rssBytes } from './worker-rss';

describe('PeakRssSampler', () => {
  it("keeps each phase's peak apart from the whole run's", async () => {
    const sampler = new PeakRssSampler([process.pid], 5);
    try {
      const firstPhase = sampler.endPhase();
      // About 64 MiB more, held while the next phase samples it.
      const held = Buffer.alloc(64 * 1024 * 1024, 1);
      await new Promise((r) => setTimeout(r, 30));
      const secondPhase = sampler.endPhase();
      expect(held[held.length - 1]).toBe(1);
      expect(secondPhase).toBeGreaterThanOrEqual(firstPhase + 32);
      expect(sampler.stop()).toBeGreaterThanOrEqual(secondPhase);
    } finally {
      sampler.stop();
    }
  });

  it('reads the RSS of a live process and nothing for one that is gone', () => {
    expect(rssBytes(process.pid)).toBeGreaterThan(0);
    expect(rssBytes(2 ** 30)).toBeUndefined();
  });
});
