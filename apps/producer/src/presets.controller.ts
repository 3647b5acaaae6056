import { Get, Inject } from '@nestjs/common';
import { ApiController } from './api-routes';
import { JobSpec, Presets } from '@pipeline/contracts';

/** The presets this producer knows, from configuration. */
export const PRESETS = Symbol('PRESETS');

@ApiController('v1/presets', 'jobs:write', 'jobs:read')
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
