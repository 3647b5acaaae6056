import { Pool } from 'pg';
import { AmqpConnection } from '@pipeline/messaging';
import { ReadinessCheck } from './health.module';

export function rabbitmqCheck(connection: AmqpConnection): ReadinessCheck {
  return {
    name: 'rabbitmq',
    async check() {
      if (!connection.isConnected) throw new Error('not connected');
      if (connection.blocked) throw new Error('publishing blocked by a resource alarm');
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
