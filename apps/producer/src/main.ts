import 'reflect-metadata';
import { loadConfig, ProducerConfig, run } from '@pipeline/platform';
import { startProducer } from './producer.app';

run(() => startProducer(loadConfig(ProducerConfig)));
