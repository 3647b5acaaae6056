export * from './blob-storage';
export * from './filesystem-storage';
export * from './images-folder';
export * from './storage.module';
export * from './retention';
