export * from './formats';
export * from './plan';
export * from './process-image';
export * from './classify-error';
export * from './decoders';
export * from './watermark';
export * from './output-size';
export * from './image-header';
