import { Controller, Get, Inject } from '@nestjs/common';
import { JobSpec, Presets } from '@pipeline/contracts';

/** The presets this producer knows, from configuration. */
export const PRESETS = Symbol('PRESETS');

@Controller('v1/presets')
export class PresetsController {
  constructor(@Inject(PRESETS) private readonly presets: Presets) {}

  @Get()
  list(): Array<{ name: string } & JobSpec> {
    return Object.entries(this.presets).map(([name, spec]) => ({ name, ...spec }));
  }
}
