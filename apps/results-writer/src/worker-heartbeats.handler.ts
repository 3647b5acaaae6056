import { Controller, Logger } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { MessageType, parseWorkerHeartbeat } from '@pipeline/contracts';
import { WorkersRepository } from '@pipeline/database';

/**
 * Keeps the `workers` table from the workers' heartbeats. A heartbeat that
 * cannot be stored (the database is away) is dropped rather than retried: the
 * next one, seconds later, says more.
 */
@Controller()
export class WorkerHeartbeatsHandler {
  private readonly logger = new Logger(WorkerHeartbeatsHandler.name);

  constructor(private readonly workers: WorkersRepository) {}

  @EventPattern(MessageType.workerHeartbeat)
  async record(@Payload() payload: unknown): Promise<void> {
    const beat = parseWorkerHeartbeat(payload);
    await this.workers
      .recordHeartbeats([beat])
      .catch((error: Error) =>
        this.logger.debug(
          `Heartbeat of ${beat.workerId} not recorded: ${error.message}`,
        ),
      );
  }
}
