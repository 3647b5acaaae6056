import { InjectionToken } from '@nestjs/common';
import { Pool } from 'pg';
import { AmqpConnection, AmqpTransport } from '@pipeline/messaging';
import { BlobStorage } from '@pipeline/storage';
import { ReadinessCheck } from './health.module';

export function rabbitmqCheck(connection: AmqpConnection): ReadinessCheck {
  return {
    name: 'rabbitmq',
    check() {
      if (!connection.isConnected) throw new Error('not connected');
      if (connection.blocked)
        throw new Error('publishing blocked by a resource alarm');
    },
  };
}

/**
 * An app that consumes is ready only while each of its consumers is attached
 * (the broker can cancel one, or close its channel).
 */
export function consumersCheck(
  transport: Pick<AmqpTransport, 'isConsuming'>,
): ReadinessCheck {
  return {
    name: 'consumers',
    check() {
      if (!transport.isConsuming)
        throw new Error(
          'not consuming every queue (a consumer is being attached again)',
        );
    },
  };
}

export function postgresCheck(pool: Pool): ReadinessCheck {
  return {
    name: 'postgres',
    async check() {
      await pool.query('SELECT 1');
    },
  };
}

/**
 * An object store is checked (its bucket there, access granted; the reason goes
 * to the log); a folder of this machine is not a dependency that can be away,
 * and adds no check.
 */
export function storageChecks(storage: BlobStorage): ReadinessCheck[] {
  return storage.remote
    ? [{ name: 'storage', check: () => storage.probe() }]
    : [];
}

/** The dependencies an app has beyond the broker and the store. */
export interface AppDependencies {
  /** It consumes messages: its consumers must be attached. */
  consumes?: boolean;
  /** It has a database. */
  database?: boolean;
}

/**
 * The checks of an app's dependencies, for HealthModule.forChecks: the broker,
 * its consumers, the database, the store, in that order.
 */
export function dependencyChecks(dependencies: AppDependencies): {
  inject: InjectionToken[];
  useFactory: (...deps: any[]) => ReadinessCheck[];
} {
  const { consumes = false, database = false } = dependencies;
  return {
    inject: [
      AmqpConnection,
      BlobStorage,
      ...(consumes ? [AmqpTransport] : []),
      ...(database ? [Pool] : []),
    ],
    useFactory: (
      amqp: AmqpConnection,
      storage: BlobStorage,
      ...optional: unknown[]
    ) => {
      const transport = consumes ? (optional.shift() as AmqpTransport) : null;
      const pool = database ? (optional.shift() as Pool) : null;
      return [
        rabbitmqCheck(amqp),
        ...(transport ? [consumersCheck(transport)] : []),
        ...(pool ? [postgresCheck(pool)] : []),
        ...storageChecks(storage),
      ];
    },
  };
}
