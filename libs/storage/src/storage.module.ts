import { DynamicModule, Module } from '@nestjs/common';
import { BlobStorage } from './blob-storage';
import { FilesystemBlobStorage } from './filesystem-storage';
import { ImagesFolder } from './images-folder';

export interface StorageOptions {
  storageDir: string;
  imagesDir: string;
}

@Module({})
export class StorageModule {
  static forRoot(options: StorageOptions): DynamicModule {
    return {
      module: StorageModule,
      providers: [
        { provide: BlobStorage, useValue: new FilesystemBlobStorage(options.storageDir) },
        { provide: ImagesFolder, useValue: new ImagesFolder(options.imagesDir) },
      ],
      exports: [BlobStorage, ImagesFolder],
    };
  }
}
