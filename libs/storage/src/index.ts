export * from './blob-storage';
export * from './checksum';
export * from './filesystem-storage';
export * from './s3-storage';
export * from './storage-location';
export * from './images-folder';
export * from './storage.module';
export * from './retention';
