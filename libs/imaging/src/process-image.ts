import {
  Operation,
  OutputFormat,
  OutputOptions,
  VariantSpec,
} from '@pipeline/contracts';
import sharp, { OutputInfo, Sharp, SharpOptions } from 'sharp';
import { Deadline } from './deadline';
import { defaultOutputFormat, InputFormat } from './formats';
import { readInputHeader, uprightSize } from './image-header';
import {
  checkOutputSize,
  ImageSize,
  jobOperationLists,
  OperationList,
} from './output-size';
import { planStages, Stage } from './plan';
import {
  renderWatermark,
  WatermarkImageResolver,
  watermarkLayerKey,
} from './watermark';
import { toBufferWithin } from './within-deadline';

export interface ProcessingLimits {
  /** Inputs with more pixels are refused from their header, before decoding. */
  maxInputPixels: number;
  /**
   * Inputs with more frames (pages of an animation or a multi-page TIFF) are
   * refused; unlimited when absent.
   */
  maxInputFrames?: number;
  /**
   * Most pixels any operation may make, judged from the input's header before
   * decoding, and again before each stage from the size it starts at; unlimited
   * when absent. It also bounds the raw pixels held between stages.
   */
  maxOutputPixels?: number;
  /**
   * When the whole job must be done (every stage, variant and watermark);
   * unlimited when absent.
   */
  deadline?: Deadline;
  /**
   * How watermark images are found; without it a watermark image fails the job.
   */
  resolveWatermarkImage?: WatermarkImageResolver;
}

/** Layers rendered ahead of the pipeline, one per watermark operation. */
type Overlays = Map<Operation, Buffer>;

export interface ProcessedImage {
  data: Buffer;
  format: OutputFormat;
  width: number;
  height: number;
}

/** A Laplacian: flat areas go to black, edges light up. */
const EDGE_KERNEL = {
  width: 3,
  height: 3,
  kernel: [-1, -1, -1, -1, 8, -1, -1, -1, -1],
};

/** The named fields of an operation, as the sharp call takes them. */
function fields<T, K extends keyof T>(source: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((key) => [key, source[key]])) as Pick<
    T,
    K
  >;
}

// eslint-disable-next-line max-lines-per-function -- flat: one case an op
function applyOperation(
  image: Sharp,
  operation: Operation,
  overlays: Overlays,
): Sharp {
  switch (operation.op) {
    case 'watermark':
      return image.composite([
        {
          input: overlays.get(operation)!,
          gravity: operation.gravity ?? 'southeast',
        },
      ]);
    case 'resize':
      return image.resize(
        fields(operation, [
          'width',
          'height',
          'fit',
          'position',
          'withoutEnlargement',
        ]),
      );
    case 'trim':
      return image.trim(fields(operation, ['threshold', 'background']));
    case 'extend':
      return image.extend({
        top: operation.top ?? 0,
        bottom: operation.bottom ?? 0,
        left: operation.left ?? 0,
        right: operation.right ?? 0,
        background: operation.background ?? '#000000',
      });
    case 'crop':
      return image.extract(
        fields(operation, ['left', 'top', 'width', 'height']),
      );
    case 'rotate':
      return image.rotate(operation.angle, {
        background: operation.background ?? '#000000',
      });
    case 'flip':
      return image.flip();
    case 'flop':
      return image.flop();
    case 'blur':
      return image.blur(operation.sigma);
    case 'sharpen':
      return operation.sigma === undefined
        ? image.sharpen()
        : image.sharpen({ sigma: operation.sigma });
    case 'grayscale':
      return image.grayscale();
    case 'brightness':
      return image.modulate({ brightness: operation.factor });
    case 'gamma':
      // sharp applies gamma in two places: darkening before everything
      // (1/gamma), brightening after the composite; each takes an exponent of 1
      // to 3. plan.ts places them accordingly.
      return operation.gamma >= 1
        ? image.gamma(1, operation.gamma)
        : image.gamma(1 / operation.gamma, 1);
    case 'median':
      return image.median(operation.size ?? 3);
    case 'threshold':
      return image.threshold(operation.value ?? 128);
    case 'edges':
      return image.convolve(EDGE_KERNEL);
    case 'modulate':
      // sharp refuses a field that is present but undefined: pass only the ones
      // given.
      return image.modulate(
        Object.fromEntries(
          Object.entries({
            brightness: operation.brightness,
            saturation: operation.saturation,
            hue: operation.hue,
            lightness: operation.lightness,
          }).filter(([, value]) => value !== undefined),
        ),
      );
    case 'contrast':
      // Scale around mid-grey, so that mid-grey stays where it is.
      return image.linear(operation.factor, 128 * (1 - operation.factor));
    case 'normalize':
      return image.normalise();
    case 'negate':
      return image.negate({ alpha: false });
    case 'tint':
      return image.tint(operation.color);
  }
}

function rawShape(info: OutputInfo): {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
} {
  return { width: info.width, height: info.height, channels: info.channels };
}

function applyStage(image: Sharp, stage: Stage, overlays: Overlays): Sharp {
  return stage.reduce(
    (current, operation) => applyOperation(current, operation, overlays),
    image,
  );
}

function encode(
  image: Sharp,
  format: OutputFormat,
  output: OutputOptions,
): Sharp {
  const { quality, lossless, progressive, effort } = output;
  switch (format) {
    case 'jpeg':
      return image.jpeg({
        quality: quality ?? 80,
        progressive: progressive ?? false,
        mozjpeg: false,
      });
    case 'png':
      return image.png({
        ...(quality === undefined ? {} : { quality, palette: quality < 100 }),
        ...(effort === undefined ? {} : { effort }),
      });
    case 'webp':
      return image.webp({
        quality: quality ?? 80,
        lossless: lossless ?? false,
        ...(effort === undefined ? {} : { effort }),
      });
    case 'avif':
      return image.avif({
        quality: quality ?? 50,
        lossless: lossless ?? false,
        ...(effort === undefined ? {} : { effort }),
      });
    case 'tiff':
      // Lossless LZW unless a quality asks for JPEG compression inside the
      // TIFF.
      return image.tiff(
        quality === undefined
          ? { compression: 'lzw' }
          : { compression: 'jpeg', quality },
      );
    case 'gif':
      return image.gif(effort === undefined ? {} : { effort });
  }
}

/**
 * Reads the input's header: its format (for the default output format), its
 * frame count, and its upright size; refused over the limits, and the
 * operations' sizes judged, before anything is decoded.
 */
async function inspect(
  input: Buffer | string,
  options: SharpOptions & { limitInputPixels: number },
  limits: ProcessingLimits,
  lists: OperationList[],
): Promise<{ format: InputFormat | null; size: ImageSize }> {
  const header = await readInputHeader(input, options);
  const { format, pages } = header;
  if (limits.maxInputFrames !== undefined && pages > limits.maxInputFrames) {
    throw new Error(
      `Input image has ${pages} frames, which exceeds frame limit of ${limits.maxInputFrames}`,
    );
  }
  const size = uprightSize(header);
  if (limits.maxOutputPixels !== undefined)
    checkOutputSize({ ...size, exact: true }, lists, limits.maxOutputPixels);
  return {
    format:
      format === 'jpeg' || format === 'png' || format === 'webp'
        ? format
        : null,
    size,
  };
}

/**
 * Judges each stage of `list`, in order, from the size it starts at, before it
 * runs.
 */
type StageCheck = (stage: Stage, size: ImageSize) => void;

function stageCheck(list: OperationList, limits: ProcessingLimits): StageCheck {
  let offset = 0;
  return (stage, size) => {
    if (limits.maxOutputPixels !== undefined)
      checkOutputSize(
        { ...size, exact: true },
        [{ path: list.path, operations: stage, offset }],
        limits.maxOutputPixels,
      );
    offset += stage.length;
  };
}

/**
 * An image held as pixels between stages, so several pipelines can start from
 * it.
 */
interface RawImage {
  data: Buffer;
  info: OutputInfo;
}

function fromRaw({ data, info }: RawImage): Sharp {
  return sharp(data, { raw: rawShape(info) });
}

/**
 * Runs stages that must see their predecessor's finished pixels, holding each
 * result as raw pixels.
 */
async function materialise(
  image: Sharp,
  stages: Stage[],
  overlays: Overlays,
  limits: ProcessingLimits,
  start: ImageSize,
  check: StageCheck,
): Promise<RawImage> {
  let raw: RawImage | undefined;
  for (const stage of stages) {
    check(stage, raw ? raw.info : start);
    let { data, info } = await toBufferWithin(
      applyStage(raw ? fromRaw(raw) : image, stage, overlays).raw(),
      limits.deadline,
      'applying the operations',
    );
    if (info.channels <= 2) {
      // A grey stage result goes on in colour, or a later tint or colour change
      // would stay grey.
      ({ data, info } = await toBufferWithin(
        sharp(data, { raw: rawShape(info) })
          .toColourspace('srgb')
          .raw(),
        limits.deadline,
        'applying the operations',
      ));
    }
    raw = { data, info };
  }
  return raw!;
}

/**
 * Renders each watermark's layer; identical watermarks (wherever they go) share
 * one rendering.
 */
async function renderOverlays(
  operations: Operation[],
  overlays: Overlays,
  limits: ProcessingLimits,
): Promise<void> {
  const rendered = new Map<string, Buffer>();
  for (const operation of operations) {
    if (operation.op !== 'watermark') continue;
    const key = watermarkLayerKey(operation);
    let layer = rendered.get(key);
    if (!layer) {
      limits.deadline?.check('rendering a watermark');
      const rendering = renderWatermark(
        operation,
        limits.resolveWatermarkImage,
        limits.maxInputPixels,
        limits.deadline,
      );
      layer = await (limits.deadline
        ? limits.deadline.race(rendering, 'rendering a watermark')
        : rendering);
      rendered.set(key, layer);
    }
    overlays.set(operation, layer);
  }
}

/**
 * Applies the last stage and encodes; `stages` are the operations after
 * `image`'s, which is of size `start`.
 */
async function finish(
  image: Sharp,
  start: ImageSize,
  stages: Stage[],
  overlays: Overlays,
  format: OutputFormat,
  output: OutputOptions,
  limits: ProcessingLimits,
  check: StageCheck,
): Promise<ProcessedImage> {
  const raw =
    stages.length > 1
      ? await materialise(
          image,
          stages.slice(0, -1),
          overlays,
          limits,
          start,
          check,
        )
      : undefined;
  const settled = raw ? fromRaw(raw) : image;
  check(stages[stages.length - 1], raw ? raw.info : start);
  const { data, info } = await toBufferWithin(
    encode(
      applyStage(settled, stages[stages.length - 1], overlays),
      format,
      output,
    ),
    limits.deadline,
    'encoding the output',
  );
  return { data, format, width: info.width, height: info.height };
}

function decode(
  input: Buffer | string,
  limits: ProcessingLimits,
): {
  image: Sharp;
  options: SharpOptions & { limitInputPixels: number };
} {
  const options = {
    limitInputPixels: limits.maxInputPixels,
    failOn: 'warning',
  } as const;
  return { image: sharp(input, options).autoOrient(), options };
}

/**
 * Runs a job's operations on an encoded image (its bytes, or the path of a
 * file, which libvips then reads as it goes instead of holding it all in
 * memory) and encodes the result. Metadata is not copied to the output; EXIF
 * orientation is applied first, so what users see is upright.
 */
export async function processImage(
  input: Buffer | string,
  operations: Operation[],
  output: OutputOptions,
  limits: ProcessingLimits,
): Promise<ProcessedImage> {
  const { image, options } = decode(input, limits);
  const lists = jobOperationLists(operations);
  const { format: inputFormat, size } = await inspect(
    input,
    options,
    limits,
    lists,
  );
  const format = output.format ?? defaultOutputFormat(inputFormat);
  const overlays: Overlays = new Map();
  await renderOverlays(operations, overlays, limits);
  return finish(
    image,
    size,
    planStages(operations),
    overlays,
    format,
    output,
    limits,
    stageCheck(lists[0], limits),
  );
}

/**
 * Makes several outputs from one decode: the shared operations run once, their
 * result is held as pixels, and each variant's operations and encoding start
 * from there.
 */
export async function processVariants(
  input: Buffer | string,
  sharedOperations: Operation[],
  variants: VariantSpec[],
  limits: ProcessingLimits,
): Promise<Array<ProcessedImage & { name: string }>> {
  const { image, options } = decode(input, limits);
  const lists = jobOperationLists(sharedOperations, variants);
  const { format, size } = await inspect(input, options, limits, lists);
  const inputDefault = defaultOutputFormat(format);
  const overlays: Overlays = new Map();
  await renderOverlays(
    [...sharedOperations, ...variants.flatMap((variant) => variant.operations)],
    overlays,
    limits,
  );
  const shared = await materialise(
    image,
    planStages(sharedOperations),
    overlays,
    limits,
    size,
    stageCheck(lists[0], limits),
  );
  const results: Array<ProcessedImage & { name: string }> = [];
  for (const [index, variant] of variants.entries()) {
    const processed = await finish(
      fromRaw(shared),
      shared.info,
      planStages(variant.operations),
      overlays,
      variant.output.format ?? inputDefault,
      variant.output,
      limits,
      stageCheck(lists[index + 1], limits),
    );
    results.push({ name: variant.name, ...processed });
  }
  return results;
}
