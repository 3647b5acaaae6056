import {
  DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { BlobStorage, StorageConfigurationError } from './blob-storage';
import { FilesystemBlobStorage } from './filesystem-storage';
import { ImagesFolder } from './images-folder';
import { S3BlobStorage, S3StorageOptions } from './s3-storage';
import { parseStorageLocation } from './storage-location';

export interface StorageOptions {
  /**
   * STORAGE_URL: empty (the folder of `storageDir`), a folder's path, or
   * `s3://<bucket>/<prefix>`.
   */
  storageUrl?: string;
  storageDir: string;
  imagesDir: string;
  /** How to reach the object store, when `storageUrl` names a bucket. */
  s3?: Omit<S3StorageOptions, 'bucket' | 'prefix'>;
}

/** The store the options name. */
export function createBlobStorage(
  options: Pick<StorageOptions, 'storageUrl' | 'storageDir' | 's3'>,
): BlobStorage {
  const location = parseStorageLocation(
    options.storageUrl ?? '',
    options.storageDir,
  );
  if (location.kind === 'filesystem')
    return new FilesystemBlobStorage(location.dir);
  return new S3BlobStorage({
    ...options.s3,
    bucket: location.bucket,
    prefix: location.prefix,
  });
}

/**
 * Says at start, in the log, when the store cannot be used as configured (a
 * bucket that is not there, access refused), rather than at the first job;
 * readiness keeps failing with the reason until it is fixed. Closes the store's
 * connections once the app has stopped.
 */
@Injectable()
class StorageLifecycle
  implements OnApplicationBootstrap, OnApplicationShutdown
{
  private readonly logger = new Logger('Storage');

  constructor(@Inject(BlobStorage) private readonly storage: BlobStorage) {}

  onApplicationBootstrap(): void {
    if (!this.storage.remote) return;
    this.storage.probe().then(
      () => this.logger.log('Object storage is reachable'),
      (error: Error) =>
        this.logger.error(
          error instanceof StorageConfigurationError
            ? `Storage is misconfigured: ${error.message}`
            : `Storage cannot be reached yet: ${error.message}`,
        ),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.storage.close();
  }
}

@Module({})
export class StorageModule {
  static forRoot(options: StorageOptions): DynamicModule {
    return {
      module: StorageModule,
      // Global as the broker's and the database's modules are: readiness checks
      // the store too.
      global: true,
      providers: [
        { provide: BlobStorage, useValue: createBlobStorage(options) },
        {
          provide: ImagesFolder,
          useValue: new ImagesFolder(options.imagesDir),
        },
        StorageLifecycle,
      ],
      exports: [BlobStorage, ImagesFolder],
    };
  }
}
