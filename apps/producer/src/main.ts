import 'reflect-metadata';
import multipart from '@fastify/multipart';
import { ValidationPipe } from '@nestjs/common';
import { migrate } from '@pipeline/database';
import { loadConfig, ProducerConfig, run, startApp } from '@pipeline/platform';
import { ApiExceptionFilter } from './api-exception.filter';
import { ProducerModule } from './producer.module';

run(async () => {
  const config = loadConfig(ProducerConfig);
  await migrate({ connectionString: config.DATABASE_URL });
  await startApp({
    name: 'producer',
    config,
    module: ProducerModule.forRoot(config),
    configure: async (app) => {
      await app.register(multipart, {
        limits: { fileSize: config.MAX_UPLOAD_BYTES, files: 1, fields: 8, fieldSize: 1024 * 1024, parts: 10 },
      });
      app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true }));
      app.useGlobalFilters(new ApiExceptionFilter());
    },
  });
});
