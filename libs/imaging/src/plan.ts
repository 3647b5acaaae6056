import { Operation } from '@pipeline/contracts';
import { resizeDependsOnAspectRatio } from './output-size';

/**
 * sharp runs the operations of one pipeline in a fixed internal order, whatever
 * order they were called in, and keeps only the last call of each. To apply a
 * job's operations in the order given, they are split into stages: within a
 * stage the order of the calls agrees with sharp's own; a new stage starts
 * (from the previous stage's raw pixels) when it would not. The common shapes —
 * crop, resize, then filters — stay in one stage and one decode.
 */
export type Stage = Operation[];

const ORIENTATION = new Set<Operation['op']>(['flip', 'flop', 'rotate']);
// Where sharp runs each filter, after all geometry (src/pipeline.cc); equal
// ranks share one sharp call.
const FILTER_RANK: Partial<Record<Operation['op'], number>> = {
  median: 60,
  threshold: 65,
  blur: 70,
  edges: 75,
  brightness: 80,
  modulate: 80,
  sharpen: 90,
  watermark: 100,
  gamma: 105,
  contrast: 110,
  normalize: 120,
  tint: 130,
};
const GEOMETRY = new Set<Operation['op']>([
  'crop',
  'resize',
  'flip',
  'flop',
  'rotate',
]);

/**
 * Whether `operation` can be appended to `stage` without sharp reordering it
 * (src/pipeline.cc).
 */
function canJoin(stage: Stage, operation: Operation): boolean {
  if (stage.some((op) => op.op === operation.op)) return false;
  return (
    colourOrNegateVerdict(stage, operation) ??
    fitsSharpOrder(
      stage.filter((op) => op.op !== 'grayscale' && op.op !== 'negate'),
      operation,
      stage.length === 0,
    )
  );
}

/**
 * Whether a greyscale, tint or negate settles `canJoin` on its own; undefined
 * when they do not.
 */
function colourOrNegateVerdict(
  stage: Stage,
  operation: Operation,
): boolean | undefined {
  // A colour-space change commutes with the geometry and the other filters.
  // sharp's greyscale output has one channel, so a tint in the same pipeline
  // would be lost, whatever the order.
  if (operation.op === 'grayscale')
    return !stage.some((op) => op.op === 'tint');
  if (operation.op === 'tint' && stage.some((op) => op.op === 'grayscale'))
    return false;
  // sharp negates after everything else, so a negate may end any stage; after
  // it only geometry may follow, which commutes with it pixel by pixel.
  if (operation.op === 'negate') return true;
  if (stage.some((op) => op.op === 'negate') && !GEOMETRY.has(operation.op))
    return false;
  return undefined;
}

/**
 * Whether `operation` can follow `ops` (the stage without its greyscale and
 * negate) where sharp's fixed order would run it.
 */
function fitsSharpOrder(
  ops: Operation[],
  operation: Operation,
  stageIsEmpty: boolean,
): boolean {
  switch (operation.op) {
    case 'gamma':
      // Brightening runs after the composite (FILTER_RANK); darkening before
      // anything else, so it starts a stage.
      if (operation.gamma < 1) return stageIsEmpty;
      return ops.every((op) => (FILTER_RANK[op.op] ?? 0) < FILTER_RANK.gamma!);
    case 'trim':
      // sharp trims before any extract or resize.
      return ops.length === 0;
    case 'crop':
      // First in a stage (after a trim) sharp extracts before everything; after
      // a resize it extracts from the resized image. Anywhere else it would not
      // run where it was asked to.
      return (
        ops.every((op) => op.op === 'trim') ||
        ops[ops.length - 1].op === 'resize'
      );
    case 'resize':
      // After a trim or pre-resize crop, or after a rotation: sharp then
      // rotates (and mirrors) before resizing. Mirroring alone would be done
      // after the resize, which shifts a cover crop by a pixel. What a trim
      // keeps is known only once it has run: a resize that follows its aspect
      // ratio starts a stage of its own, so that its size can be judged before
      // it runs (output-size.ts).
      return resizeCanFollow(ops, operation);
    case 'extend':
      // sharp pads after every resize, rotation and crop, and before every
      // filter.
      return ops.every((op) => GEOMETRY.has(op.op) || op.op === 'trim');
    case 'flip':
    case 'flop':
    case 'rotate':
      // Before any resize (sharp's own order is flip, flop, rotate), or after a
      // leading trim or crop; after a resize sharp would still mirror or rotate
      // before cropping or padding to the box.
      return ops.every(
        (op, index) =>
          (ORIENTATION.has(op.op) &&
            orientationRank(op) < orientationRank(operation)) ||
          (op.op === 'trim' && index === 0) ||
          (op.op === 'crop' &&
            ops.slice(0, index).every((before) => before.op === 'trim')),
      );
    default:
      // Filters run after all geometry, in sharp's order (FILTER_RANK).
      return ops.every(
        (op) => (FILTER_RANK[op.op] ?? 0) < FILTER_RANK[operation.op]!,
      );
  }
}

function resizeCanFollow(
  ops: Operation[],
  operation: Operation & { op: 'resize' },
): boolean {
  const has = (name: Operation['op']) => ops.some((op) => op.op === name);
  if (has('trim') && !has('crop') && resizeDependsOnAspectRatio(operation))
    return false;
  if (ops.every((op) => op.op === 'trim' || op.op === 'crop')) return true;
  return has('rotate') && ops.every((op) => ORIENTATION.has(op.op));
}

function orientationRank(operation: Operation): number {
  return operation.op === 'flip' ? 1 : operation.op === 'flop' ? 2 : 3;
}

export function planStages(operations: Operation[]): Stage[] {
  const stages: Stage[] = [[]];
  for (const operation of operations) {
    const current = stages[stages.length - 1];
    if (canJoin(current, operation)) current.push(operation);
    else stages.push([operation]);
  }
  return stages;
}
