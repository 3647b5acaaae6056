import {
  Equals,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  MaxLength,
  Matches,
  Max,
  Min,
  ValidateBy,
  ValidateIf,
  ValidationOptions,
} from 'class-validator';
import { stacked } from './stacked';

/**
 * Largest width or height an operation may ask for; keeps a single job from
 * allocating gigapixels.
 */
export const MAX_DIMENSION = 16_384;

/**
 * A finite number from `min` to `max`.
 */
function IsNumberFrom(min: number, max: number): PropertyDecorator {
  return stacked(
    IsNumber({ allowNaN: false, allowInfinity: false }),
    Min(min),
    Max(max),
  );
}

/**
 * A width or height in pixels, with one message for every way it can be wrong.
 */
function IsDimension(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isDimension',
      validator: {
        validate: (value: unknown) =>
          Number.isInteger(value) &&
          (value as number) >= 1 &&
          (value as number) <= MAX_DIMENSION,
        defaultMessage: () =>
          `$property must be an integer from 1 to ${MAX_DIMENSION}`,
      },
    },
    options,
  );
}

export const RESIZE_FITS = [
  'cover',
  'contain',
  'fill',
  'inside',
  'outside',
] as const;
export type ResizeFit = (typeof RESIZE_FITS)[number];

/**
 * Where a cover or contain resize anchors the image; `entropy` and `attention`
 * pick the crop by content (cover only).
 */
export const RESIZE_POSITIONS = [
  'centre',
  'center',
  'top',
  'right top',
  'right',
  'right bottom',
  'bottom',
  'left bottom',
  'left',
  'left top',
  'north',
  'northeast',
  'east',
  'southeast',
  'south',
  'southwest',
  'west',
  'northwest',
  'entropy',
  'attention',
] as const;
export type ResizePosition = (typeof RESIZE_POSITIONS)[number];

const HEX_COLOUR = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
const HEX_COLOUR_MESSAGE =
  '$property must be a hex colour such as #ffffff or #00000000';

export class ResizeOperation {
  @Equals('resize') op: 'resize';

  // Checked when given, or when neither dimension is: then the message asks for
  // one.
  @ValidateIf(
    (o: ResizeOperation) => o.width !== undefined || o.height === undefined,
  )
  @IsDimension({
    message: (args) =>
      args.value === undefined
        ? 'resize needs width and/or height'
        : `$property must be an integer from 1 to ${MAX_DIMENSION}`,
  })
  width?: number;

  @IsOptional()
  @IsDimension()
  height?: number;

  @IsOptional()
  @IsIn(RESIZE_FITS)
  @ValidateBy({
    name: 'smartCropNeedsCover',
    validator: {
      validate: (fit: unknown, args) =>
        !['entropy', 'attention'].includes(
          (args?.object as ResizeOperation).position ?? '',
        ) ||
        fit === undefined ||
        fit === 'cover',
      defaultMessage: () =>
        'fit must be cover (the default) for the entropy and attention positions',
    },
  })
  fit?: ResizeFit;

  @IsOptional()
  @IsIn(RESIZE_POSITIONS)
  position?: ResizePosition;

  /** Never make the image larger than it is. */
  @IsOptional()
  @IsBoolean()
  withoutEnlargement?: boolean;
}

export class TrimOperation {
  @Equals('trim') op: 'trim';
  /** How far from the background colour a pixel may be and still be trimmed. */
  @IsOptional()
  @IsNumberFrom(0, 255)
  threshold?: number;
  /** The colour to trim; the top-left pixel's when absent. */
  @IsOptional()
  @Matches(HEX_COLOUR, { message: HEX_COLOUR_MESSAGE })
  background?: string;
}

export class ExtendOperation {
  @Equals('extend') op: 'extend';
  @IsOptional() @IsInt() @Min(0) @Max(MAX_DIMENSION) top?: number;
  @IsOptional() @IsInt() @Min(0) @Max(MAX_DIMENSION) bottom?: number;
  @IsOptional() @IsInt() @Min(0) @Max(MAX_DIMENSION) left?: number;
  // Checked when given, or when no side is: padding by nothing is a mistake
  // worth naming.
  @ValidateIf(
    (o: ExtendOperation) =>
      o.right !== undefined ||
      ![o.top, o.bottom, o.left].some(
        (side) => typeof side === 'number' && side > 0,
      ),
  )
  @ValidateBy({
    name: 'extendSide',
    validator: {
      validate: (right: unknown, args) => {
        const o = args?.object as ExtendOperation;
        const valid =
          right === undefined ||
          (Number.isInteger(right) &&
            (right as number) >= 0 &&
            (right as number) <= MAX_DIMENSION);
        return (
          valid &&
          [o.top, o.bottom, o.left, right].some(
            (side) => typeof side === 'number' && side > 0,
          )
        );
      },
      defaultMessage: (args) =>
        args?.value === undefined || args.value === 0
          ? 'extend needs top, bottom, left or right above 0'
          : `$property must be an integer from 0 to ${MAX_DIMENSION}`,
    },
  })
  right?: number;
  /** The padding's colour; `#rrggbbaa` allows transparency. */
  @IsOptional()
  @Matches(HEX_COLOUR, { message: HEX_COLOUR_MESSAGE })
  background?: string;
}

export class CropOperation {
  @Equals('crop') op: 'crop';
  @IsInt() @Min(0) left: number;
  @IsInt() @Min(0) top: number;
  @IsDimension() width: number;
  @IsDimension() height: number;
}

export class RotateOperation {
  @Equals('rotate') op: 'rotate';
  @IsNumberFrom(-360, 360)
  angle: number;
  /**
   * Fill for the corners uncovered by an angle that is not a multiple of 90;
   * `#rrggbbaa` allows transparency.
   */
  @IsOptional()
  @Matches(HEX_COLOUR, { message: HEX_COLOUR_MESSAGE })
  background?: string;
}

export class FlipOperation {
  @Equals('flip') op: 'flip';
}

export class FlopOperation {
  @Equals('flop') op: 'flop';
}

export class BlurOperation {
  @Equals('blur') op: 'blur';
  /** libvips accepts 0.3 to 1000; larger values only cost time. */
  @IsNumberFrom(0.3, 1000)
  sigma: number;
}

export class SharpenOperation {
  @Equals('sharpen') op: 'sharpen';
  @IsOptional()
  @IsNumberFrom(0.000001, 10)
  sigma?: number;
}

export class GrayscaleOperation {
  @Equals('grayscale') op: 'grayscale';
}

export class BrightnessOperation {
  @Equals('brightness') op: 'brightness';
  @IsNumberFrom(0, 10)
  factor: number;
}

/**
 * Gamma correction: each channel becomes (value / max) ^ (1 / gamma); above 1
 * brightens the mid-tones, below 1 darkens them.
 */
export class GammaOperation {
  @Equals('gamma') op: 'gamma';
  @IsNumberFrom(1 / 3, 3)
  gamma: number;
}

export class MedianOperation {
  @Equals('median') op: 'median';
  /** Window size in pixels (odd); 3 removes salt-and-pepper noise. */
  @IsOptional() @IsInt() @Min(1) @Max(15) size?: number;
}

export class ThresholdOperation {
  @Equals('threshold') op: 'threshold';
  /** Pixels at or above become white, the rest black. */
  @IsOptional() @IsInt() @Min(0) @Max(255) value?: number;
}

export class EdgesOperation {
  @Equals('edges') op: 'edges';
}

export class ModulateOperation {
  @Equals('modulate') op: 'modulate';
  @IsOptional()
  @IsNumberFrom(0, 10)
  brightness?: number;
  @IsOptional()
  @IsNumberFrom(0, 10)
  saturation?: number;
  /** Degrees around the colour wheel. */
  @IsOptional() @IsInt() @Min(-360) @Max(360) hue?: number;
  /** Added to lightness (L*, 0–100). */
  @IsOptional()
  @IsNumberFrom(-100, 100)
  lightness?: number;
}

export class ContrastOperation {
  @Equals('contrast') op: 'contrast';
  /** Linear contrast around mid-grey: above 1 more, below 1 less. */
  @IsNumberFrom(0, 10)
  factor: number;
}

export class NormalizeOperation {
  @Equals('normalize') op: 'normalize';
}

export class NegateOperation {
  @Equals('negate') op: 'negate';
}

export class TintOperation {
  @Equals('tint') op: 'tint';
  @Matches(/^#([0-9a-f]{3}|[0-9a-f]{6})$/i, {
    message: '$property must be a hex colour such as #704214',
  })
  color: string;
}

export const GRAVITIES = [
  'centre',
  'north',
  'northeast',
  'east',
  'southeast',
  'south',
  'southwest',
  'west',
  'northwest',
] as const;
export type Gravity = (typeof GRAVITIES)[number];

/**
 * Text (shown as written: no markup) or an image from the images folder, laid
 * over the picture.
 */
export class WatermarkOperation {
  @Equals('watermark') op: 'watermark';

  @ValidateIf(
    (o: WatermarkOperation) => o.text !== undefined || o.image === undefined,
  )
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  @ValidateBy({
    name: 'textOrImage',
    validator: {
      validate: (_text: unknown, args) =>
        (args?.object as WatermarkOperation).image === undefined,
      defaultMessage: () => 'a watermark has text or image, not both',
    },
  })
  text?: string;

  /** A path in the images folder, like source.path. */
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(1024) image?: string;

  /** Where it goes; southeast by default. */
  @IsOptional() @IsIn(GRAVITIES) gravity?: Gravity;

  /** 0 invisible, 1 opaque; 0.5 by default. */
  @IsOptional()
  @IsNumberFrom(0, 1)
  opacity?: number;

  /** Text height in pixels; 24 by default. */
  @IsOptional() @IsInt() @Min(6) @Max(512) size?: number;

  /** Text colour; white by default. */
  @IsOptional()
  @Matches(/^#([0-9a-f]{3}|[0-9a-f]{6})$/i, {
    message: '$property must be a hex colour such as #ffffff',
  })
  color?: string;
}

export type Operation =
  | ResizeOperation
  | CropOperation
  | RotateOperation
  | FlipOperation
  | FlopOperation
  | BlurOperation
  | SharpenOperation
  | GrayscaleOperation
  | BrightnessOperation
  | GammaOperation
  | MedianOperation
  | ThresholdOperation
  | EdgesOperation
  | ModulateOperation
  | ContrastOperation
  | NormalizeOperation
  | NegateOperation
  | TintOperation
  | TrimOperation
  | ExtendOperation
  | WatermarkOperation;

export type OperationName = Operation['op'];

/**
 * The one registry of operations: validation and the API documentation both
 * read it.
 */
export const OPERATION_CLASSES: Record<OperationName, new () => Operation> = {
  resize: ResizeOperation,
  crop: CropOperation,
  rotate: RotateOperation,
  flip: FlipOperation,
  flop: FlopOperation,
  blur: BlurOperation,
  sharpen: SharpenOperation,
  grayscale: GrayscaleOperation,
  brightness: BrightnessOperation,
  gamma: GammaOperation,
  median: MedianOperation,
  threshold: ThresholdOperation,
  edges: EdgesOperation,
  modulate: ModulateOperation,
  contrast: ContrastOperation,
  normalize: NormalizeOperation,
  negate: NegateOperation,
  tint: TintOperation,
  trim: TrimOperation,
  extend: ExtendOperation,
  watermark: WatermarkOperation,
};

export const OPERATION_NAMES = Object.keys(
  OPERATION_CLASSES,
) as OperationName[];

/** Most operations a single job may carry. */
export const MAX_OPERATIONS = 32;
