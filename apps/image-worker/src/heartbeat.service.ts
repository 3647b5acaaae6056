import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { MessageType, WorkerHeartbeatMessage } from '@pipeline/contracts';
import { MessagePublisher } from '@pipeline/messaging';
import { WorkerConfig } from '@pipeline/platform';
import { hostname } from 'node:os';
import { WorkerActivity } from './worker-activity';

/**
 * Announces the worker every HEARTBEAT_INTERVAL_S, and once more when it stops
 * cleanly, so that operators see which workers are alive, what they have done
 * and what they hold.
 */
@Injectable()
export class HeartbeatService
  implements OnApplicationBootstrap, BeforeApplicationShutdown
{
  private readonly logger = new Logger(HeartbeatService.name);
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly publisher: MessagePublisher,
    private readonly activity: WorkerActivity,
    private readonly config: WorkerConfig,
  ) {}

  onApplicationBootstrap(): void {
    void this.beat(false);
    this.timer = setInterval(
      () => void this.beat(false),
      this.config.HEARTBEAT_INTERVAL_S * 1000,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.beat(true);
  }

  /**
   * Best effort: a heartbeat lost while the broker is away is followed by the
   * next.
   */
  private async beat(stopping: boolean): Promise<void> {
    const { startedAt, jobsSucceeded, jobsFailed, inFlight } = this.activity;
    const message: WorkerHeartbeatMessage = {
      workerId: this.config.WORKER_ID,
      host: hostname(),
      pid: process.pid,
      startedAt,
      at: new Date().toISOString(),
      jobsSucceeded,
      jobsFailed,
      inFlight,
      stopping,
    };
    await this.publisher
      .publish(
        MessageType.workerHeartbeat,
        `${message.workerId}/${message.at}`,
        message,
      )
      .catch((error: Error) =>
        this.logger.debug(`Heartbeat not sent: ${error.message}`),
      );
  }
}
