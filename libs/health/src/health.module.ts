import { Controller, DynamicModule, Get, Inject, InjectionToken, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';

/** A dependency the app cannot serve without; `check` throws when it is away. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
  ) {}

  /** The process runs and its event loop answers. */
  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /** Every dependency answers; load balancers and Kubernetes route traffic only then. */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check(
      this.checks.map((dependency) => async () => {
        const indicator = this.indicators.check(dependency.name);
        try {
          await dependency.check();
          return indicator.up();
        } catch (error) {
          return indicator.down({ message: (error as Error).message });
        }
      }),
    );
  }
}

/** `/health/live` and `/health/ready`; `checks` are resolved from the app's providers. */
@Module({})
export class HealthModule {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  static forChecks(checks: { inject: InjectionToken[]; useFactory: (...deps: any[]) => ReadinessCheck[] }): DynamicModule {
    return {
      module: HealthModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [{ provide: READINESS_CHECKS, inject: checks.inject, useFactory: checks.useFactory }],
    };
  }
}
