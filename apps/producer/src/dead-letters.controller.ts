import { Delete, Get, Query } from '@nestjs/common';
import { Actor } from '@pipeline/contracts';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { Action, ApiController } from './api-routes';
import { DeadLettersService } from './dead-letters.service';
import { CurrentActor } from './request-context';

class DrainQuery {
  /** Messages to go through in one call. */
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10_000) limit = 1000;
}

/**
 * The dead-letter queues: parked job messages (poison, or out of tries) and
 * events the database refused.
 */
@ApiController('v1/dead-letters', 'admin')
export class DeadLettersController {
  constructor(private readonly queues: DeadLettersService) {}

  @Action('jobs/replay', 200)
  replayJobs(@Query() { limit }: DrainQuery, @CurrentActor() actor: Actor) {
    return this.queues.drain('dead-letters.jobs.replayed', limit, actor);
  }

  @Action('events/replay', 200)
  replayEvents(@Query() { limit }: DrainQuery, @CurrentActor() actor: Actor) {
    return this.queues.drain('dead-letters.events.replayed', limit, actor);
  }

  @Get()
  counts(): Promise<{ jobs: number; events: number }> {
    return this.queues.deadLetterCounts();
  }

  @Delete('jobs')
  purgeJobs(@Query() { limit }: DrainQuery, @CurrentActor() actor: Actor) {
    return this.queues.drain('dead-letters.jobs.purged', limit, actor);
  }

  @Delete('events')
  purgeEvents(@Query() { limit }: DrainQuery, @CurrentActor() actor: Actor) {
    return this.queues.drain('dead-letters.events.purged', limit, actor);
  }
}
