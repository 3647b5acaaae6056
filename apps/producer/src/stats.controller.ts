import { Get } from '@nestjs/common';
import { ApiController } from './api-routes';
import { PipelineStats, StatsService } from './stats.service';

@ApiController('v1/stats', 'admin')
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
