import {
  Controller,
  DynamicModule,
  Get,
  Inject,
  Injectable,
  InjectionToken,
  Logger,
  Module,
  ModuleMetadata,
  Req,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common';
import {
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorService,
  TerminusModule,
} from '@nestjs/terminus';
import { FastifyReply, FastifyRequest } from 'fastify';

/**
 * A dependency the app cannot serve without; `check` throws (or rejects) when
 * it is away.
 */
export interface ReadinessCheck {
  name: string;
  check(): void | Promise<void>;
}

/**
 * Whether the caller of `/health/ready` may see which dependency is up or down,
 * or only whether the app is ready. Without one, everyone may (an app whose
 * HTTP port only the cluster reaches).
 */
export type ReadinessDetailPolicy = (
  request: FastifyRequest,
) => boolean | Promise<boolean>;

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
export const READINESS_DETAIL = Symbol('READINESS_DETAIL');

/**
 * The readiness of the app: every check run, each dependency up or down; a
 * failure is logged once per change.
 */
@Injectable()
export class ReadinessService {
  private readonly logger = new Logger('Readiness');
  /** The last failure of each dependency, logged once when it changes. */
  private readonly failures = new Map<string, string>();

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
  ) {}

  /**
   * `ready` when every dependency answers; `detail` names each one up or down,
   * never an error's text (that goes to the log).
   */
  async report(): Promise<{ ready: boolean; detail: HealthCheckResult }> {
    try {
      return {
        ready: true,
        detail: await this.health.check(
          this.checks.map((dependency) => () => this.run(dependency)),
        ),
      };
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      return { ready: false, detail: error.getResponse() as HealthCheckResult };
    }
  }

  private async run(dependency: ReadinessCheck) {
    const indicator = this.indicators.check(dependency.name);
    try {
      await dependency.check();
      if (this.failures.delete(dependency.name))
        this.logger.log(`${dependency.name} is ready again`);
      return indicator.up();
    } catch (error) {
      const message = (error as Error).message;
      if (this.failures.get(dependency.name) !== message)
        this.logger.warn(`${dependency.name} is not ready: ${message}`);
      this.failures.set(dependency.name, message);
      return indicator.down();
    }
  }
}

@Controller('health')
class HealthController {
  constructor(
    private readonly readiness: ReadinessService,
    @Inject(READINESS_DETAIL)
    private readonly showDetail: ReadinessDetailPolicy,
  ) {}

  /** The process runs and its event loop answers. */
  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /**
   * Every dependency answers (200) or not (503); load balancers and Kubernetes
   * route traffic only then. Which dependency is down is shown only to callers
   * the app's policy lets see it.
   */
  @Get('ready')
  async ready(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { ready, detail } = await this.readiness.report();
    reply.status(ready ? 200 : 503);
    return (await this.showDetail(request))
      ? detail
      : { status: detail.status };
  }
}

/**
 * Who may see readiness in detail: `imports` make what `inject` names
 * available.
 */
export interface ReadinessDetailProvider extends Pick<
  ModuleMetadata,
  'imports'
> {
  inject: InjectionToken[];
  useFactory: (...deps: any[]) => ReadinessDetailPolicy;
}

/**
 * `/health/live` and `/health/ready`; `checks` are resolved from the app's
 * providers.
 */
@Module({})
export class HealthModule {
  static forChecks(checks: {
    inject: InjectionToken[];
    useFactory: (...deps: any[]) => ReadinessCheck[];
    /** Without it, every caller sees the detail. */
    detail?: ReadinessDetailProvider;
  }): DynamicModule {
    const everyone: ReadinessDetailPolicy = () => true;
    return {
      module: HealthModule,
      imports: [
        TerminusModule.forRoot({ logger: false }),
        ...(checks.detail?.imports ?? []),
      ],
      controllers: [HealthController],
      providers: [
        {
          provide: READINESS_CHECKS,
          inject: checks.inject,
          useFactory: checks.useFactory,
        },
        checks.detail
          ? {
              provide: READINESS_DETAIL,
              inject: checks.detail.inject,
              useFactory: checks.detail.useFactory,
            }
          : { provide: READINESS_DETAIL, useValue: everyone },
        ReadinessService,
      ],
      exports: [ReadinessService],
    };
  }
}
