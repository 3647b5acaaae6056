import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, RequireScopes } from '@pipeline/auth';
import { PipelineStats, StatsService } from './stats.service';

@Controller('v1/stats')
@UseGuards(ApiKeyGuard)
@RequireScopes('admin')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  /**
   * Queue depths, job counts by status, throughput over the last minute, and
   * the workers with their heartbeats.
   */
  @Get()
  snapshot(): Promise<PipelineStats> {
    return this.stats.snapshot();
  }
}
