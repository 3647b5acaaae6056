import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, RequireScopes } from '@pipeline/auth';
import { JobSpec, Presets } from '@pipeline/contracts';

/** The presets this producer knows, from configuration. */
export const PRESETS = Symbol('PRESETS');

@Controller('v1/presets')
@UseGuards(ApiKeyGuard)
@RequireScopes('jobs:write', 'jobs:read')
export class PresetsController {
  constructor(@Inject(PRESETS) private readonly presets: Presets) {}

  @Get()
  list(): Array<{ name: string } & JobSpec> {
    return Object.entries(this.presets).map(([name, spec]) => ({
      name,
      ...spec,
    }));
  }
}
