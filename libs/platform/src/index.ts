import 'reflect-metadata';
export * from './load-config';
export * from './settings';
export * from './logger';
export * from './redact';
export * from './bootstrap';
export * from './crash-report';
export * from './task-turns';
export * from './concurrency-limit';
