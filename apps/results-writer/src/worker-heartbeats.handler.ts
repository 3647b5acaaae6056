import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { MessageType, parseWorkerHeartbeat } from '@pipeline/contracts';
import { WorkerHeartbeats } from './worker-heartbeats.service';

/** Takes the workers' heartbeats off the events queue. */
@Controller()
export class WorkerHeartbeatsHandler {
  constructor(private readonly heartbeats: WorkerHeartbeats) {}

  @EventPattern(MessageType.workerHeartbeat)
  async record(@Payload() payload: unknown): Promise<void> {
    await this.heartbeats.record(parseWorkerHeartbeat(payload));
  }
}
