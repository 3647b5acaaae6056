export * from './formats';
export * from './plan';
export * from './process-image';
export * from './classify-error';
export * from './deadline';
export * from './decoders';
export * from './sharp-settings';
export * from './watermark';
