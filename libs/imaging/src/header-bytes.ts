import { crc32 } from 'node:zlib';
import { detectImageFormat } from './formats';
import type { ImageHeader } from './image-header';

/**
 * How much of a file is read to find its header: enough for the headers of
 * nearly every JPEG, PNG and WebP.
 */
export const HEADER_BYTES = 64 * 1024;

/**
 * The header of a JPEG, PNG, WebP or GIF read from its first bytes, without
 * libvips: what sharp's metadata would say of the same input, or null whenever
 * that is not certain (another format, a layout this reader does not follow, a
 * structure its decoder might refuse, a part it needs beyond `head`).
 * `complete`: `head` is the whole input, not only its start.
 *
 * Every check below stands for one the decoder behind sharp makes while reading
 * the header (libjpeg, libpng, libwebp's demuxer, libnsgif, libexif as libvips
 * calls them); where this reader is stricter, the caller asks sharp instead.
 */
export function readHeaderBytes(
  head: Buffer,
  complete: boolean,
): ImageHeader | null {
  switch (detectImageFormat(head)) {
    case 'jpeg':
      return readJpeg(head);
    case 'png':
      return readPng(head);
    case 'webp':
      return readWebp(head);
    case 'gif':
      return complete ? readGif(head) : null;
    default:
      return null;
  }
}

interface Size {
  width: number;
  height: number;
}

const still = (
  format: string,
  width: number,
  height: number,
  orientation = 1,
): ImageHeader => ({ format, width, height, orientation, pages: 1 });

// JPEG: the markers up to the first scan's header, as libjpeg's
// jpeg_read_header reads them.

// baseline, extended, progressive Huffman
const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2]);
const JPEG_MAX_DIMENSION = 65500;

/**
 * The marker segment at `offset`: its marker, its bytes after the length, and
 * where it ends; null when libjpeg would not read one there.
 */
function jpegSegment(
  data: Buffer,
  offset: number,
): { marker: number; segment: Buffer; end: number } | null {
  // bytes before a marker make libjpeg warn
  if (offset >= data.length || data[offset] !== 0xff) return null;
  // fill bytes
  while (offset < data.length && data[offset] === 0xff) offset++;
  if (offset + 2 >= data.length) return null;
  const marker = data[offset];
  const length = data.readUInt16BE(offset + 1);
  const end = offset + 1 + length;
  if (length < 2 || end > data.length) return null;
  return { marker, segment: data.subarray(offset + 3, end), end };
}

function readJpeg(data: Buffer): ImageHeader | null {
  let offset = 2;
  let frame:
    { width: number; height: number; components: number[] } | undefined;
  let exif: Buffer | undefined;
  let exifSegments = 0;
  for (;;) {
    const next = jpegSegment(data, offset);
    if (!next) return null;
    const { marker, segment } = next;
    offset = next.end;
    if (marker >= 0xe0 && marker <= 0xef) {
      if (marker === 0xe0 && !plausibleApp0(segment)) return null;
      if (
        marker === 0xe1 &&
        segment.length > 4 &&
        segment.toString('latin1', 0, 4) === 'Exif'
      ) {
        exif = segment;
        exifSegments++;
      }
    } else if (marker === 0xfe) {
      // a comment
    } else if (marker === 0xdb) {
      if (!validQuantTables(segment)) return null;
    } else if (marker === 0xc4) {
      if (!validHuffmanTables(segment)) return null;
    } else if (marker === 0xdd) {
      if (segment.length !== 2) return null;
    } else if (SOF_MARKERS.has(marker)) {
      if (frame) return null;
      frame = readFrame(segment);
      if (!frame) return null;
    } else if (marker === 0xda) {
      if (!frame || !validScan(segment, frame.components)) return null;
      break;
    } else {
      // arithmetic or lossless coding, DNL, a second SOI, EOI before any scan:
      // sharp decides
      return null;
    }
  }
  if (!frame) return null;
  // libvips keeps the last; which one libexif then reads is not worth guessing
  if (exifSegments > 1) return null;
  // libexif finds nothing in an "Exif" segment without the two NULs of its
  // header.
  if (exif && exif.toString('latin1', 0, 6) !== 'Exif\0\0') return null;
  const orientation = exif ? exifOrientation(exif.subarray(6)) : 1;
  return orientation === null
    ? null
    : still('jpeg', frame.width, frame.height, orientation);
}

/**
 * A JFIF APP0 of another major version makes libjpeg warn, which sharp treats
 * as an error.
 */
function plausibleApp0(segment: Buffer): boolean {
  if (segment.length >= 14 && segment.toString('latin1', 0, 5) === 'JFIF\0')
    return segment[5] === 1;
  return true;
}

function validQuantTables(segment: Buffer): boolean {
  let offset = 0;
  while (offset < segment.length) {
    const precision = segment[offset] >> 4;
    const id = segment[offset] & 0x0f;
    if (precision > 1 || id > 3) return false;
    offset += 1 + 64 * (precision + 1);
  }
  return offset === segment.length && segment.length > 0;
}

function validHuffmanTables(segment: Buffer): boolean {
  let offset = 0;
  while (offset < segment.length) {
    if (offset + 17 > segment.length) return false;
    const index = segment[offset];
    if ((index & 0xef) > 3) return false; // class 0 or 1, table 0 to 3
    let count = 0;
    for (let i = 1; i <= 16; i++) count += segment[offset + i];
    if (count > 256) return false;
    offset += 17 + count;
  }
  return offset === segment.length && segment.length > 0;
}

function readFrame(
  segment: Buffer,
): { width: number; height: number; components: number[] } | undefined {
  if (segment.length < 6) return undefined;
  const precision = segment[0];
  const height = segment.readUInt16BE(1);
  const width = segment.readUInt16BE(3);
  const count = segment[5];
  if (
    precision !== 8 ||
    width === 0 ||
    height === 0 ||
    width > JPEG_MAX_DIMENSION ||
    height > JPEG_MAX_DIMENSION
  )
    return undefined;
  if (![1, 3, 4].includes(count) || segment.length !== 6 + 3 * count)
    return undefined;
  const components: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = 6 + 3 * i;
    const sampling = segment[at + 1];
    const horizontal = sampling >> 4;
    const vertical = sampling & 0x0f;
    if (
      horizontal < 1 ||
      horizontal > 4 ||
      vertical < 1 ||
      vertical > 4 ||
      segment[at + 2] > 3
    )
      return undefined;
    if (components.includes(segment[at])) return undefined;
    components.push(segment[at]);
  }
  return { width, height, components };
}

function validScan(segment: Buffer, frameComponents: number[]): boolean {
  const count = segment[0];
  if (count < 1 || count > 4 || segment.length !== 4 + 2 * count) return false;
  const seen: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = segment[1 + 2 * i];
    if (!frameComponents.includes(id) || seen.includes(id)) return false;
    seen.push(id);
  }
  return true;
}

// EXIF, as libexif loads IFD0 and libvips takes its Orientation.

const ORIENTATION_TAG = 0x0112;
const SHORT = 3;

/**
 * The orientation an EXIF block (from its TIFF header on) gives: 1 without the
 * tag, null for anything unusual (a value out of range, another type, a
 * repeated tag, an IFD0 past the end).
 */
export function exifOrientation(tiff: Buffer): number | null {
  if (tiff.length < 8) return null;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const little = order === 'II';
  const u16 = (at: number) =>
    little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at);
  const u32 = (at: number) =>
    little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at);
  if (u16(2) !== 42) return null;
  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > tiff.length) return null;
  const entries = u16(ifd);
  if (ifd + 2 + 12 * entries > tiff.length) return null;
  let orientation: number | undefined;
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + 12 * i;
    if (u16(entry) !== ORIENTATION_TAG) continue;
    if (
      orientation !== undefined ||
      u16(entry + 2) !== SHORT ||
      u32(entry + 4) !== 1
    )
      return null;
    orientation = u16(entry + 8);
    if (orientation < 1 || orientation > 8) return null;
  }
  return orientation ?? 1;
}

// PNG: the chunks before the first IDAT, as libpng's png_read_info reads them.

const PNG_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
/**
 * Ancillary chunks whose content cannot make libpng fail (at worst it ignores
 * them, with a warning).
 */
const PNG_ANCILLARY = new Set([
  'tRNS',
  'gAMA',
  'cHRM',
  'sRGB',
  'iCCP',
  'pHYs',
  'bKGD',
  'sBIT',
  'tIME',
  'tEXt',
  'zTXt',
  'iTXt',
]);
const PNG_MAX_DIMENSION = 65535;
/**
 * Below every limit libpng sets on a chunk's length (PNG_USER_CHUNK_MALLOC_MAX,
 * 8000000, is the least).
 */
const PNG_CHUNK_LIMIT = 8_000_000;

type PngHeader = Size & { colourType: number; bitDepth: number };

/** The IHDR chunk's fields; null when libpng would refuse them. */
function readIhdr(body: Buffer): PngHeader | null {
  const ihdr = {
    width: body.readUInt32BE(0),
    height: body.readUInt32BE(4),
    bitDepth: body[8],
    colourType: body[9],
  };
  const { width, height, bitDepth, colourType } = ihdr;
  if (
    width === 0 ||
    height === 0 ||
    width > PNG_MAX_DIMENSION ||
    height > PNG_MAX_DIMENSION
  )
    return null;
  if (
    !PNG_DEPTHS[colourType]?.includes(bitDepth) ||
    body[10] !== 0 ||
    body[11] !== 0 ||
    body[12] > 1
  )
    return null;
  return ihdr;
}

/** Whether libpng takes a PLTE chunk of `length` bytes for this image. */
function validPalette(ihdr: PngHeader, length: number): boolean {
  const entries = length / 3;
  if (ihdr.colourType !== 2 && ihdr.colourType !== 3 && ihdr.colourType !== 6)
    return false;
  return !(
    !Number.isInteger(entries) ||
    entries < 1 ||
    entries > 256 ||
    (ihdr.colourType === 3 && entries > 2 ** ihdr.bitDepth)
  );
}

function readPng(data: Buffer): ImageHeader | null {
  let offset = 8;
  let ihdr: PngHeader | null | undefined;
  let palette = false;
  let exif: Buffer | undefined;
  const seen = new Set<string>();
  for (;;) {
    if (offset + 8 > data.length) return null;
    const length = data.readUInt32BE(offset);
    const type = data.toString('latin1', offset + 4, offset + 8);
    // libpng refuses a chunk longer than its limit even for IDAT, whose header
    // png_read_info reads.
    if (length > PNG_CHUNK_LIMIT) return null;
    if (type === 'IDAT') break;
    const end = offset + 12 + length;
    if (end > data.length) return null;
    if (
      data.readUInt32BE(end - 4) !== crc32(data.subarray(offset + 4, end - 4))
    )
      return null;
    const body = data.subarray(offset + 8, end - 4);
    offset = end;
    if (seen.has(type) && type !== 'tEXt' && type !== 'zTXt' && type !== 'iTXt')
      return null;
    seen.add(type);
    if (type === 'IHDR') {
      if (ihdr || length !== 13) return null;
      ihdr = readIhdr(body);
      if (!ihdr) return null;
      continue;
    }
    if (!ihdr) return null;
    if (type === 'PLTE') {
      if (!validPalette(ihdr, length)) return null;
      palette = true;
    } else if (type === 'eXIf') {
      exif = body;
    } else if (!PNG_ANCILLARY.has(type)) {
      return null;
    }
  }
  if (!ihdr || (ihdr.colourType === 3 && !palette)) return null;
  const orientation = exif ? exifOrientation(exif) : 1;
  return orientation === null
    ? null
    : still('png', ihdr.width, ihdr.height, orientation);
}

// WebP: the RIFF chunks as libwebp's WebPDemux checks them, which needs the
// whole RIFF.

const WEBP_ANIMATION = 0x02;
const WEBP_EXIF = 0x08;
/** Animation, XMP, EXIF, alpha, ICC: the demuxer refuses any other flag. */
const WEBP_VALID_FLAGS = 0x3e;

interface RiffChunk {
  fourcc: string;
  /** Offset of the chunk's header. */
  start: number;
  payload: Buffer;
  /** Offset after its (padded) payload. */
  end: number;
}

/**
 * The chunks from `offset` to `end`, which must tile that span exactly; null
 * otherwise.
 */
function riffChunks(
  data: Buffer,
  offset: number,
  end: number,
): RiffChunk[] | null {
  const chunks: RiffChunk[] = [];
  while (offset < end) {
    if (offset + 8 > end) return null;
    const size = data.readUInt32LE(offset + 4);
    const next = offset + 8 + size + (size & 1);
    if (next > end) return null;
    chunks.push({
      fourcc: data.toString('latin1', offset, offset + 4),
      start: offset,
      payload: data.subarray(offset + 8, offset + 8 + size),
      end: next,
    });
    offset = next;
  }
  return chunks;
}

/**
 * The size a VP8 or VP8L bitstream's header gives (WebPGetFeatures on its
 * chunk), or null.
 */
function bitstreamSize({ fourcc, payload }: RiffChunk): Size | null {
  if (fourcc === 'VP8 ') {
    if (
      payload.length < 10 ||
      payload[3] !== 0x9d ||
      payload[4] !== 0x01 ||
      payload[5] !== 0x2a
    )
      return null;
    const bits = payload[0] | (payload[1] << 8) | (payload[2] << 16);
    const keyFrame = (bits & 1) === 0;
    if (
      !keyFrame ||
      ((bits >> 1) & 7) > 3 ||
      ((bits >> 4) & 1) === 0 ||
      bits >> 5 >= payload.length
    )
      return null;
    const width = payload.readUInt16LE(6) & 0x3fff;
    const height = payload.readUInt16LE(8) & 0x3fff;
    return width === 0 || height === 0 ? null : { width, height };
  }
  if (fourcc === 'VP8L') {
    if (payload.length < 5 || payload[0] !== 0x2f) return null;
    const bits = payload.readUInt32LE(1);
    if (bits >>> 29 !== 0) return null;
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  return null;
}

/**
 * An ANMF's or a still image's chunks: an optional ALPH (not before VP8L), then
 * one VP8 or VP8L.
 */
function frameSize(chunks: RiffChunk[]): Size | null {
  const [first, second] = chunks;
  if (chunks.length === 1) return bitstreamSize(first);
  if (
    chunks.length === 2 &&
    first.fourcc === 'ALPH' &&
    second.fourcc === 'VP8 '
  )
    return bitstreamSize(second);
  return null;
}

/** The extended header's flags and canvas size; null if the demuxer refuses. */
function readVp8x(
  chunk: RiffChunk,
): { flags: number; width: number; height: number } | null {
  if (chunk.fourcc !== 'VP8X' || chunk.payload.length !== 10) return null;
  const flags = chunk.payload[0];
  if (flags & ~WEBP_VALID_FLAGS) return null;
  const width = 1 + chunk.payload.readUIntLE(4, 3);
  const height = 1 + chunk.payload.readUIntLE(7, 3);
  if (width > 16383 || height > 16383) return null;
  return { flags, width, height };
}

/**
 * Whether an ANMF frame's bitstream has the size the frame declares, and the
 * frame lies within the canvas.
 */
function frameFits(data: Buffer, chunk: RiffChunk, canvas: Size): boolean {
  if (chunk.payload.length < 16) return false;
  const x = 2 * chunk.payload.readUIntLE(0, 3);
  const y = 2 * chunk.payload.readUIntLE(3, 3);
  const inner = riffChunks(
    data,
    chunk.start + 8 + 16,
    chunk.start + 8 + chunk.payload.length,
  );
  const size = inner && frameSize(inner);
  const declared = {
    width: 1 + chunk.payload.readUIntLE(6, 3),
    height: 1 + chunk.payload.readUIntLE(9, 3),
  };
  if (!size || size.width !== declared.width || size.height !== declared.height)
    return false;
  return x + size.width <= canvas.width && y + size.height <= canvas.height;
}

/** Whether a still image's chunks have the canvas's size. */
function stillFits(image: RiffChunk[], canvas: Size): boolean {
  const size = frameSize(image);
  if (!size || size.width !== canvas.width || size.height !== canvas.height)
    return false;
  // The still image's chunks must be next to each other, as the demuxer reads
  // them in one go.
  return !(image.length === 2 && image[0].end !== image[1].start);
}

function readWebp(data: Buffer): ImageHeader | null {
  const riffSize = data.readUInt32LE(4);
  const riffEnd = riffSize + 8;
  // The demuxer refuses a file shorter than its RIFF says; only bytes read can
  // vouch for that.
  if (riffSize < 8 || riffEnd > data.length) return null;
  const chunks = riffChunks(data, 12, riffEnd);
  if (!chunks || chunks.length === 0) return null;
  const [first, ...rest] = chunks;
  if (first.fourcc === 'VP8 ' || first.fourcc === 'VP8L') {
    const size = rest.length === 0 ? bitstreamSize(first) : null;
    return size && still('webp', size.width, size.height);
  }
  return readExtendedWebp(data, first, rest);
}

/**
 * The orientation an EXIF chunk gives: libvips hands libexif the chunk as it
 * is when it starts "Exif", else with that header added.
 */
function webpExifOrientation(exif: Buffer): number | null {
  return exifOrientation(
    exif.toString('latin1', 0, 6) === 'Exif\0\0' ? exif.subarray(6) : exif,
  );
}

/** A WebP of the extended format: a VP8X header, then its chunks. */
function readExtendedWebp(
  data: Buffer,
  first: RiffChunk,
  rest: RiffChunk[],
): ImageHeader | null {
  const canvas = readVp8x(first);
  if (!canvas) return null;
  const { flags, width, height } = canvas;
  const animated = (flags & WEBP_ANIMATION) !== 0;
  let exif: Buffer | undefined;
  const image: RiffChunk[] = [];
  let frames = 0;
  let anim = false;
  for (const chunk of rest) {
    switch (chunk.fourcc) {
      case 'ALPH':
      case 'VP8 ':
      case 'VP8L':
        if (animated) return null;
        image.push(chunk);
        break;
      case 'ANIM':
        if (!animated || anim || chunk.payload.length < 6) return null;
        anim = true;
        break;
      case 'ANMF':
        if (!anim || !frameFits(data, chunk, { width, height })) return null;
        frames++;
        break;
      case 'EXIF':
        if (!(flags & WEBP_EXIF) || exif) return null;
        exif = chunk.payload;
        break;
      case 'ICCP':
      case 'XMP ':
        break;
      default:
        return null;
    }
  }
  if (animated) {
    if (frames === 0) return null;
  } else if (!stillFits(image, { width, height })) {
    return null;
  }
  if ((flags & WEBP_EXIF) !== 0 && !exif) return null;
  const orientation = exif ? webpExifOrientation(exif) : 1;
  if (orientation === null) return null;
  return {
    format: 'webp',
    width,
    height,
    orientation,
    pages: animated ? frames : 1,
  };
}

// GIF: the whole file's blocks, as libnsgif scans them for frames.

function readGif(data: Buffer): ImageHeader | null {
  if (data.length < 13) return null;
  const width = data.readUInt16LE(6);
  const height = data.readUInt16LE(8);
  if (width === 0 || height === 0) return null;
  let offset = 13 + colourTableBytes(data[10]);
  let frames = 0;
  for (;;) {
    if (offset >= data.length) return null;
    const block = data[offset++];
    if (block === 0x3b) break;
    if (block === 0x21) {
      if (offset >= data.length) return null;
      const label = data[offset++];
      if (label === 0xf9 && data[offset] !== 4) return null;
      if (![0xf9, 0xff, 0xfe, 0x01].includes(label)) return null;
      const next = skipSubBlocks(data, offset);
      if (next === null) return null;
      offset = next;
    } else if (block === 0x2c) {
      if (offset + 9 > data.length) return null;
      const x = data.readUInt16LE(offset);
      const y = data.readUInt16LE(offset + 2);
      const w = data.readUInt16LE(offset + 4);
      const h = data.readUInt16LE(offset + 6);
      // libnsgif lets the first frame resize the screen; one that covers it
      // exactly does not.
      if (
        frames === 0
          ? x !== 0 || y !== 0 || w !== width || h !== height
          : w === 0 || h === 0 || x + w > width || y + h > height
      )
        return null;
      offset += 9 + colourTableBytes(data[offset + 8]);
      if (offset >= data.length) return null;
      const codeSize = data[offset++];
      if (codeSize < 2 || codeSize > 8) return null;
      const next = skipSubBlocks(data, offset);
      // a frame without image data
      if (next === null || next === offset + 1) return null;
      offset = next;
      frames++;
    } else {
      return null;
    }
  }
  return frames === 0
    ? null
    : { format: 'gif', width, height, orientation: 1, pages: frames };
}

function colourTableBytes(flags: number): number {
  return flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0;
}

/**
 * The offset after a run of sub-blocks ending with an empty one, or null past
 * the end.
 */
function skipSubBlocks(data: Buffer, offset: number): number | null {
  for (;;) {
    if (offset >= data.length) return null;
    const size = data[offset];
    offset += 1 + size;
    if (size === 0) return offset;
  }
}
