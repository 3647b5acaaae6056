import 'reflect-metadata';
import { loadConfig, run, WorkerConfig } from '@pipeline/platform';
import { startWorker } from './worker.app';

run(() => startWorker(loadConfig(WorkerConfig)));
