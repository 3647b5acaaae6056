import { Operation, ResizeOperation, VariantSpec } from '@pipeline/contracts';

export interface ImageSize {
  width: number;
  height: number;
}

/**
 * What is known of an image's size after an operation: its size (`exact`), or
 * only a size it cannot exceed (after a trim, which keeps an unknown part), or
 * nothing at all (`undefined`: a trim followed by a resize that keeps the
 * aspect ratio of whatever the trim left).
 */
export type SizeBound = (ImageSize & { exact: boolean }) | undefined;

/**
 * Whether a resize's result depends on its input's aspect ratio, so that it
 * cannot be bounded from its fields alone: one dimension (but for `fill`, which
 * leaves the other as it is), or `outside`; never with `withoutEnlargement`,
 * which keeps it within its input.
 */
export function resizeDependsOnAspectRatio(
  operation: ResizeOperation,
): boolean {
  if (operation.withoutEnlargement) return false;
  const fit = operation.fit ?? 'cover';
  if (fit === 'outside') return true;
  return (
    fit !== 'fill' &&
    (operation.width === undefined || operation.height === undefined)
  );
}

/**
 * sharp's resize (ResolveShrink and the crop or embed after it, src/common.cc
 * and src/pipeline.cc) on a known size.
 */
function resized(
  { width, height }: ImageSize,
  operation: ResizeOperation,
): ImageSize {
  const fit = operation.fit ?? 'cover';
  const { width: targetWidth, height: targetHeight } = operation;
  let hshrink = 1;
  let vshrink = 1;
  if (targetWidth !== undefined && targetHeight !== undefined) {
    hshrink = width / targetWidth;
    vshrink = height / targetHeight;
    // cover and outside keep the larger result, contain and inside the smaller.
    if (fit === 'cover' || fit === 'outside')
      hshrink = vshrink = Math.min(hshrink, vshrink);
    else if (fit === 'contain' || fit === 'inside')
      hshrink = vshrink = Math.max(hshrink, vshrink);
  } else if (targetWidth !== undefined) {
    hshrink = width / targetWidth;
    if (fit !== 'fill') vshrink = hshrink;
  } else if (targetHeight !== undefined) {
    vshrink = height / targetHeight;
    if (fit !== 'fill') hshrink = vshrink;
  }
  if (operation.withoutEnlargement) {
    hshrink = Math.max(1, hshrink);
    vshrink = Math.max(1, vshrink);
  }
  hshrink = Math.min(hshrink, width);
  vshrink = Math.min(vshrink, height);
  const scaled = {
    width: Math.max(1, Math.round(width / hshrink)),
    height: Math.max(1, Math.round(height / vshrink)),
  };
  // cover crops to its box (never beyond the scaled image), contain pads to it;
  // a side not given is the scaled one.
  const box = {
    width: targetWidth ?? scaled.width,
    height: targetHeight ?? scaled.height,
  };
  if (fit === 'cover')
    return {
      width: Math.min(scaled.width, box.width),
      height: Math.min(scaled.height, box.height),
    };
  if (fit === 'contain')
    return {
      width: Math.max(scaled.width, box.width),
      height: Math.max(scaled.height, box.height),
    };
  return scaled;
}

/**
 * A resize of an image known only by a size it cannot exceed (unbounded:
 * infinite).
 */
function resizedBound(bound: ImageSize, operation: ResizeOperation): SizeBound {
  if (resizeDependsOnAspectRatio(operation)) return undefined;
  const { width, height, withoutEnlargement } = operation;
  const fit = operation.fit ?? 'cover';
  // contain pads to its box whatever the input, even kept from enlarging.
  if (width !== undefined && height !== undefined && fit === 'contain')
    return { width, height, exact: true };
  let size: ImageSize & { exact: boolean };
  if (width !== undefined && height !== undefined && fit !== 'outside') {
    // cover and fill fill the box exactly, inside stays within it; kept from
    // enlarging, within the input too.
    size = withoutEnlargement
      ? {
          width: Math.min(width, bound.width),
          height: Math.min(height, bound.height),
          exact: false,
        }
      : { width, height, exact: fit !== 'inside' };
  } else if (!withoutEnlargement) {
    // fill of one side (nothing else gets here): that side as given, the other
    // as it was.
    size = {
      width: width ?? bound.width,
      height: height ?? bound.height,
      exact: false,
    };
  } else {
    // Kept from enlarging: never larger than its input, but contain still pads
    // to the side given.
    size =
      fit === 'contain'
        ? {
            width: Math.max(bound.width, width ?? 0),
            height: Math.max(bound.height, height ?? 0),
            exact: false,
          }
        : { ...bound, exact: false };
  }
  return Number.isFinite(size.width) && Number.isFinite(size.height)
    ? size
    : undefined;
}

/**
 * The bounding box of an image turned by `angle` degrees, as libvips makes it.
 */
function rotated({ width, height }: ImageSize, angle: number): ImageSize {
  if (angle % 90 === 0)
    return Math.abs(angle / 90) % 2 === 1
      ? { width: height, height: width }
      : { width, height };
  const radians = (angle * Math.PI) / 180;
  const cos = Math.abs(Math.cos(radians));
  const sin = Math.abs(Math.sin(radians));
  return {
    width: Math.round(width * cos + height * sin),
    height: Math.round(width * sin + height * cos),
  };
}

/** The size after one operation, from what is known of the size before it. */
export function sizeAfter(before: SizeBound, operation: Operation): SizeBound {
  switch (operation.op) {
    case 'crop':
      return { width: operation.width, height: operation.height, exact: true };
    case 'resize':
      if (!before)
        return resizedBound({ width: Infinity, height: Infinity }, operation);
      return before.exact
        ? { ...resized(before, operation), exact: true }
        : resizedBound(before, operation);
    case 'trim':
      return before && { ...before, exact: false };
    case 'extend': {
      const { top = 0, bottom = 0, left = 0, right = 0 } = operation;
      return (
        before && {
          width: before.width + left + right,
          height: before.height + top + bottom,
          exact: before.exact,
        }
      );
    }
    case 'rotate':
      return (
        before && { ...rotated(before, operation.angle), exact: before.exact }
      );
    default:
      // Filters, flips, colour and watermarks keep the size.
      return before;
  }
}

/**
 * What is known of the size after each of `operations`, applied in order to an
 * image of `start`'s size.
 */
export function sizesAfterOperations(
  start: SizeBound,
  operations: Operation[],
): SizeBound[] {
  const sizes: SizeBound[] = [];
  let size = start;
  for (const operation of operations) {
    size = sizeAfter(size, operation);
    sizes.push(size);
  }
  return sizes;
}

/** A job's operations would make an image over the output limit. */
export class OutputTooLargeError extends Error {
  constructor(
    readonly path: string,
    readonly operation: Operation['op'],
    readonly size: ImageSize,
    readonly limit: number,
  ) {
    super(
      `${path} (${operation}) would make a ${size.width}×${size.height} image (${size.width * size.height} pixels); the limit is ${limit} (MAX_OUTPUT_PIXELS)`,
    );
    this.name = 'OutputTooLargeError';
  }
}

/**
 * An operation list of a job and where it is in the request (`operations`,
 * `outputs[1].operations`).
 */
export interface OperationList {
  path: string;
  operations: Operation[];
  /**
   * Index of `operations[0]` in the list `path` names, when these are a later
   * part of it (a stage).
   */
  offset?: number;
}

/**
 * A job's operation lists, named as the request names them: its shared
 * operations, then each variant's (`outputs[i]`).
 */
export function jobOperationLists(
  operations: Operation[],
  variants?: VariantSpec[] | null,
): OperationList[] {
  return [
    { path: 'operations', operations },
    ...(variants ?? []).map((variant, index) => ({
      path: `outputs[${index}].operations`,
      operations: variant.operations,
    })),
  ];
}

/**
 * Refuses (OutputTooLargeError) the first operation whose result could have
 * more than `maxPixels` pixels, `lists` running one after the other from
 * `start`, each from the end of the first (a job's shared operations, then each
 * variant's). Sizes that a trim left unknown are not judged here; the worker
 * judges them once the trim has run.
 */
export function checkOutputSize(
  start: SizeBound,
  lists: OperationList[],
  maxPixels: number,
): void {
  const [shared, ...variants] = lists;
  const sharedSizes = sizesAfterOperations(start, shared.operations);
  check(shared, sharedSizes, maxPixels);
  const afterShared =
    sharedSizes.length > 0 ? sharedSizes[sharedSizes.length - 1] : start;
  for (const variant of variants)
    check(
      variant,
      sizesAfterOperations(afterShared, variant.operations),
      maxPixels,
    );
}

function check(
  { path, operations, offset = 0 }: OperationList,
  sizes: SizeBound[],
  maxPixels: number,
): void {
  sizes.forEach((size, index) => {
    if (size && size.width * size.height > maxPixels)
      throw new OutputTooLargeError(
        `${path}[${offset + index}]`,
        operations[index].op,
        { width: size.width, height: size.height },
        maxPixels,
      );
  });
}
