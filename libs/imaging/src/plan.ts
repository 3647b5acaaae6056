import { Operation } from '@pipeline/contracts';

/**
 * sharp runs the operations of one pipeline in a fixed internal order, whatever order they
 * were called in, and keeps only the last call of each. To apply a job's operations in the
 * order given, they are split into stages: within a stage the order of the calls agrees with
 * sharp's own; a new stage starts (from the previous stage's raw pixels) when it would not.
 * The common shapes — crop, resize, then filters — stay in one stage and one decode.
 */
export type Stage = Operation[];

const ORIENTATION_OPS = new Set<Operation['op']>(['flip', 'flop', 'rotate']);

/** Position in sharp's pipeline (src/pipeline.cc), given what the stage already holds; null: cannot join. */
function rankInStage(stage: Stage, ranks: number[], operation: Operation): number | null {
  const previous = ranks.length === 0 ? -Infinity : Math.max(...ranks);
  const rank = (value: number) => (value >= previous ? value : null);
  switch (operation.op) {
    case 'grayscale':
      // A colour-space change commutes with the geometry and filters of v1: it may join any stage.
      return previous === -Infinity ? 0 : previous;
    case 'crop':
      // Before a resize sharp extracts first ("pre"); after one, it extracts from the resized image ("post").
      // Without a resize it extracts before mirroring, so a crop after a flip must start a new stage.
      if (stage.length === 0) return 10;
      return stage.some((op) => op.op === 'resize') ? rank(45) : null;
    case 'resize':
      // When a resize follows a rotation sharp rotates (and mirrors) first, as asked.
      if (stage.length > 0 && stage.every((op) => ORIENTATION_OPS.has(op.op))) return 20;
      return rank(20);
    case 'flip':
      return rank(31);
    case 'flop':
      return rank(32);
    case 'rotate':
      return rank(33);
    case 'blur':
      return rank(70);
    case 'brightness':
      return rank(80);
    case 'sharpen':
      return rank(90);
  }
}

export function planStages(operations: Operation[]): Stage[] {
  const stages: Stage[] = [];
  let stage: Stage = [];
  let ranks: number[] = [];
  for (const operation of operations) {
    const repeated = stage.some((op) => op.op === operation.op);
    let rank = repeated ? null : rankInStage(stage, ranks, operation);
    if (rank === null) {
      stages.push(stage);
      stage = [];
      ranks = [];
      rank = rankInStage(stage, ranks, operation)!;
    }
    stage.push(operation);
    ranks.push(rank);
  }
  stages.push(stage);
  return stages;
}
