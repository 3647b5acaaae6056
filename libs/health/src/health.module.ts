import { Controller, DynamicModule, Get, Inject, InjectionToken, Logger, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';

/** A dependency the app cannot serve without; `check` throws when it is away. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

@Controller('health')
class HealthController {
  private readonly logger = new Logger('Readiness');
  /** The last failure of each dependency, logged once when it changes. */
  private readonly failures = new Map<string, string>();

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
          if (this.failures.delete(dependency.name)) this.logger.log(`${dependency.name} is ready again`);
          return indicator.up();
        } catch (error) {
          // The endpoint is open to anyone: it says which dependency is down, the log says why.
          const message = (error as Error).message;
          if (this.failures.get(dependency.name) !== message) this.logger.warn(`${dependency.name} is not ready: ${message}`);
          this.failures.set(dependency.name, message);
          return indicator.down();
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
