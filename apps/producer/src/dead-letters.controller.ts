import {
  Controller,
  Delete,
  Get,
  HttpCode,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import { ApiKeyGuard, RequireScopes } from '@pipeline/auth';
import { Actor } from '@pipeline/contracts';
import { DeadLetterReport } from '@pipeline/messaging';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
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
@Controller('v1/dead-letters')
@UseGuards(ApiKeyGuard)
@RequireScopes('admin')
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLettersService) {}

  @Get()
  counts(): Promise<{ jobs: number; events: number }> {
    return this.deadLetters.deadLetterCounts();
  }

  @Post('jobs/replay')
  @HttpCode(200)
  replayJobs(
    @Query() query: DrainQuery,
    @CurrentActor() actor: Actor,
  ): Promise<DeadLetterReport> {
    return this.deadLetters.replayDeadJobs(query.limit, actor);
  }

  @Delete('jobs')
  purgeJobs(
    @Query() query: DrainQuery,
    @CurrentActor() actor: Actor,
  ): Promise<DeadLetterReport> {
    return this.deadLetters.purgeDeadJobs(query.limit, actor);
  }

  @Post('events/replay')
  @HttpCode(200)
  replayEvents(
    @Query() query: DrainQuery,
    @CurrentActor() actor: Actor,
  ): Promise<DeadLetterReport> {
    return this.deadLetters.replayDeadEvents(query.limit, actor);
  }

  @Delete('events')
  purgeEvents(
    @Query() query: DrainQuery,
    @CurrentActor() actor: Actor,
  ): Promise<DeadLetterReport> {
    return this.deadLetters.purgeDeadEvents(query.limit, actor);
  }
}
