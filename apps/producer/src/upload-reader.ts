import { Injectable } from '@nestjs/common';
import {
  detectImageFormat,
  FirstBytes,
  HEADER_BYTES,
  SNIFF_BYTES,
} from '@pipeline/imaging';
import { ProducerConfig } from '@pipeline/platform';
import { BlobStorage } from '@pipeline/storage';
import { ValidationFailed } from '@pipeline/contracts';
import { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { PayloadTooLargeError, UnsupportedImageError } from './errors';

/**
 * Passes bytes through once the first ones have been recognised as a supported
 * image.
 */
class ImageSniffer extends Transform {
  private head: Buffer | null = Buffer.alloc(0);
  /** Digest of every byte that passed, for Idempotency-Key comparisons. */
  readonly hash = createHash('sha256');
  /**
   * A copy of the first HEADER_BYTES, so that the image's header is read
   * without opening it again.
   */
  private readonly start: Buffer[] = [];
  private startBytes = 0;
  private total = 0;

  _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: TransformCallback,
  ): void {
    this.hash.update(chunk);
    this.total += chunk.length;
    if (this.startBytes < HEADER_BYTES) {
      const kept = Buffer.from(
        chunk.subarray(0, HEADER_BYTES - this.startBytes),
      );
      this.start.push(kept);
      this.startBytes += kept.length;
    }
    if (this.head === null) return callback(null, chunk);
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < SNIFF_BYTES) return callback();
    this.release(callback);
  }

  _flush(callback: TransformCallback): void {
    if (this.head === null) return callback();
    if (this.head.length === 0)
      return callback(new ValidationFailed(['image is empty']));
    this.release(callback);
  }

  /** The first bytes that passed, and whether they were all. */
  firstBytes(): FirstBytes {
    return {
      head: Buffer.concat(this.start),
      complete: this.total === this.startBytes,
    };
  }

  private release(callback: TransformCallback): void {
    const head = this.head!;
    this.head = null;
    if (detectImageFormat(head) === null) {
      return callback(
        new UnsupportedImageError(
          'image is not a supported image (JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF), judged by its content',
        ),
      );
    }
    callback(null, head);
  }
}

const INCOMPLETE_BODY =
  'the request body ended before the upload was complete: send every part, and the closing boundary';

export interface Upload {
  fields: Record<string, string>;
  /** Storage key of the stored image, or null when the request had none. */
  imageKey: string | null;
  /** SHA-256 of the image's bytes, when there is one. */
  imageDigest: string | null;
  /**
   * Size of the stored image (0 without one): counted in the key's stored
   * bytes.
   */
  imageBytes: number;
  /** The stored image's first bytes, when there is one. */
  imageStart: FirstBytes | null;
}

/**
 * Reads a multipart job submission, streaming the `image` part into storage as
 * it arrives (never the whole body in memory) and collecting the text parts.
 */
@Injectable()
export class UploadReader {
  constructor(
    private readonly storage: BlobStorage,
    private readonly config: ProducerConfig,
  ) {}

  async read(request: FastifyRequest, imageKey: string): Promise<Upload> {
    const fields: Record<string, string> = {};
    let stored = false;
    let imageDigest: string | null = null;
    let imageBytes = 0;
    let imageStart: FirstBytes | null = null;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'image' || stored) {
            part.file.resume();
            throw new ValidationFailed([
              `unexpected file part "${part.fieldname}": send one file, in the part named image`,
            ]);
          }
          const sniffer = new ImageSniffer();
          imageBytes = await this.storeImage(
            request,
            part.file,
            imageKey,
            sniffer,
          );
          imageDigest = sniffer.hash.digest('hex');
          imageStart = sniffer.firstBytes();
          stored = true;
        } else {
          fields[part.fieldname] = String(part.value);
        }
      }
      // The parts end early, without an error, when the client goes away
      // between them.
      if (!request.raw.complete) throw new ValidationFailed([INCOMPLETE_BODY]);
    } catch (error) {
      if (stored) await this.storage.delete(imageKey);
      throw this.translate(error);
    }
    return {
      fields,
      imageKey: stored ? imageKey : null,
      imageDigest,
      imageBytes,
      imageStart,
    };
  }

  /**
   * Streams the image part into storage through the sniffer. A client that goes
   * away in the middle of the part can leave the part's stream neither ended
   * nor failed (@fastify/multipart destroys it in some states only: not once
   * the size limit was hit, for one), so the request's early close fails it
   * here, and the write with it.
   */
  private async storeImage(
    request: FastifyRequest,
    file: Readable,
    imageKey: string,
    sniffer: ImageSniffer,
  ): Promise<number> {
    const failIfAbandoned = () => {
      if (!request.raw.complete)
        file.destroy(new ValidationFailed([INCOMPLETE_BODY]));
    };
    if (request.raw.destroyed) failIfAbandoned();
    request.raw.once('close', failIfAbandoned);
    try {
      return (await this.storage.put(imageKey, file, sniffer)).sizeBytes;
    } finally {
      request.raw.off('close', failIfAbandoned);
    }
  }

  private translate(error: unknown): unknown {
    const code = (error as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE')
      return new PayloadTooLargeError(
        `image is larger than the limit of ${this.config.MAX_UPLOAD_BYTES} bytes`,
      );
    if (
      code === 'ERR_STREAM_PREMATURE_CLOSE' ||
      /terminated early|unexpected end/i.test((error as Error).message ?? '')
    )
      return new ValidationFailed([INCOMPLETE_BODY]);
    if (
      code === 'FST_PARTS_LIMIT' ||
      code === 'FST_FILES_LIMIT' ||
      code === 'FST_FIELDS_LIMIT'
    ) {
      return new ValidationFailed([
        `too many parts: send image, operations and output only`,
      ]);
    }
    return error;
  }
}
