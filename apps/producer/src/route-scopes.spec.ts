import { RequestMethod } from '@nestjs/common';
import {
  GUARDS_METADATA,
  METHOD_METADATA,
  PATH_METADATA,
} from '@nestjs/common/constants';
import { ApiKeyGuard, REQUIRED_SCOPES } from '@pipeline/auth';
import { buildOpenApiDocument, ROUTE_SCOPES } from '@pipeline/contracts';
import { PRODUCER_CONTROLLERS } from './producer.module';

/**
 * Every route of the producer's controllers, with its guards and the scopes it
 * declares.
 */
function routes(): Array<{
  route: string;
  guarded: boolean;
  scopes: string[] | undefined;
}> {
  return PRODUCER_CONTROLLERS.flatMap((controller) => {
    const base = Reflect.getMetadata(PATH_METADATA, controller) as string;
    const classGuards = (Reflect.getMetadata(GUARDS_METADATA, controller) ??
      []) as unknown[];
    return Object.getOwnPropertyNames(controller.prototype)
      .map(
        (name) =>
          (controller.prototype as unknown as Record<string, object>)[name],
      )
      .filter((handler) => Reflect.hasMetadata(METHOD_METADATA, handler))
      .map((handler) => {
        const path = [
          base,
          Reflect.getMetadata(PATH_METADATA, handler) as string,
        ]
          .filter((part) => part && part !== '/')
          .join('/');
        const method =
          RequestMethod[
            Reflect.getMetadata(METHOD_METADATA, handler) as number
          ];
        return {
          route: `${method} /${path.replace(/:(\w+)/g, '{$1}')}`,
          guarded:
            classGuards.includes(ApiKeyGuard) ||
            (
              (Reflect.getMetadata(GUARDS_METADATA, handler) ?? []) as unknown[]
            ).includes(ApiKeyGuard),
          scopes: (Reflect.getMetadata(REQUIRED_SCOPES, handler) ??
            Reflect.getMetadata(REQUIRED_SCOPES, controller)) as
            string[] | undefined,
        };
      });
  });
}

describe('who may call which route', () => {
  it('guards every /v1 route with an API key and the scopes the API description states', () => {
    const v1 = routes().filter(({ route }) => route.includes(' /v1/'));
    expect(v1.length).toBe(Object.keys(ROUTE_SCOPES).length);
    for (const { route, guarded, scopes } of v1) {
      expect({ route, guarded }).toEqual({ route, guarded: true });
      expect({ route, scopes }).toEqual({ route, scopes: ROUTE_SCOPES[route] });
    }
  });

  it('leaves open only the dashboard page and the API description, which hold no data', () => {
    const open = routes()
      .filter(({ guarded }) => !guarded)
      .map(({ route }) => route);
    expect(open.sort()).toEqual([
      'GET /',
      'GET /dashboard.js',
      'GET /docs',
      'GET /docs-json',
      'GET /docs/init.js',
      'GET /docs/{file}',
      'GET /job-browser.js',
    ]);
  });

  it('describes every /v1 route the controllers declare, and no other', () => {
    const declared = routes()
      .map(({ route }) => route)
      .filter((route) => route.includes(' /v1/'));
    const paths = buildOpenApiDocument().paths as Record<string, object>;
    const described = Object.entries(paths).flatMap(([path, operations]) =>
      Object.keys(operations).map(
        (method) => `${method.toUpperCase()} ${path}`,
      ),
    );
    expect(described.sort()).toEqual(declared.sort());
  });

  it('documents each route with its scopes and the answers for a missing key, a missing scope and a limit', () => {
    const paths = buildOpenApiDocument().paths as Record<
      string,
      Record<
        string,
        { 'x-scopes': string[]; responses: Record<string, unknown> }
      >
    >;
    const documented = Object.entries(paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(([method, operation]) => ({
        route: `${method.toUpperCase()} ${path}`,
        operation,
      })),
    );
    expect(documented.map(({ route }) => route).sort()).toEqual(
      Object.keys(ROUTE_SCOPES).sort(),
    );
    for (const { route, operation } of documented) {
      expect(operation['x-scopes']).toEqual(ROUTE_SCOPES[route]);
      expect(Object.keys(operation.responses)).toEqual(
        expect.arrayContaining(['401', '403', '429']),
      );
    }
  });
});
