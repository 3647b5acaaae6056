import { ChannelModel, ConfirmChannel } from 'amqplib';
import { NackedChannelRenewal, wasNacked } from './channel-renewal';

describe('renewing a nacked confirm channel', () => {
  afterEach(() => jest.useRealTimers());

  it("tells amqplib's nack from other publish failures", () => {
    expect(wasNacked(new Error('message nacked'))).toBe(true);
    expect(wasNacked(new Error('Channel closed'))).toBe(false);
    expect(wasNacked(undefined)).toBe(false);
  });

  it('opens one new channel per second at most, only for the channel in use, and closes the old one later', async () => {
    jest.useFakeTimers();
    const model = {} as ChannelModel;
    const close = jest.fn(() => Promise.resolve());
    const stale = { close } as unknown as ConfirmChannel;
    const other = {} as ConfirmChannel;
    const open = jest.fn(() => Promise.resolve());
    const renewal = new NackedChannelRenewal(open, 5000, () => undefined);

    renewal.renew(stale, other, model); // already replaced
    renewal.renew(stale, stale, null); // not connected
    expect(open).not.toHaveBeenCalled();

    renewal.renew(stale, stale, model);
    renewal.renew(stale, stale, model);
    expect(open).toHaveBeenCalledTimes(1);
    await Promise.resolve();
    expect(close).not.toHaveBeenCalled();
    jest.advanceTimersByTime(5000);
    expect(close).toHaveBeenCalledTimes(1);

    jest.advanceTimersByTime(1000);
    renewal.renew(stale, stale, model);
    expect(open).toHaveBeenCalledTimes(2);
  });
});
