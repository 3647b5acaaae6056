import 'reflect-metadata';
export * from './operations';
export * from './output';
export * from './validation';
export * from './jobs';
export * from './messages';
export * from './errors';
export * from './presets';
export * from './variants';
