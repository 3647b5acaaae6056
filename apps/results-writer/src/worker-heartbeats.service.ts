import { Injectable, Logger } from '@nestjs/common';
import { WorkerHeartbeatMessage } from '@pipeline/contracts';
import { WorkersRepository } from '@pipeline/database';

/**
 * Keeps the `workers` table from the workers' heartbeats. A heartbeat that
 * cannot be stored (the database is away) is dropped rather than retried: the
 * next one, seconds later, says more.
 */
@Injectable()
export class WorkerHeartbeats {
  private readonly logger = new Logger(WorkerHeartbeats.name);

  constructor(private readonly workers: WorkersRepository) {}

  async record(beat: WorkerHeartbeatMessage): Promise<void> {
    await this.workers
      .recordHeartbeats([beat])
      .catch((error: Error) =>
        this.logger.debug(
          `Heartbeat of ${beat.workerId} not recorded: ${error.message}`,
        ),
      );
  }
}
