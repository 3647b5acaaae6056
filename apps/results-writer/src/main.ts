import 'reflect-metadata';
import { loadConfig, run, WriterConfig } from '@pipeline/platform';
import { startWriter } from './writer.app';

run(() => startWriter(loadConfig(WriterConfig)));
