import { Operation } from '@pipeline/contracts';
import { planStages } from './plan';

const crop: Operation = { op: 'crop', left: 0, top: 0, width: 10, height: 10 };
const resize: Operation = { op: 'resize', width: 100 };
const rotate90: Operation = { op: 'rotate', angle: 90 };
const rotate45: Operation = { op: 'rotate', angle: 45 };
const flip: Operation = { op: 'flip' };
const flop: Operation = { op: 'flop' };
const blur: Operation = { op: 'blur', sigma: 2 };
const sharpen: Operation = { op: 'sharpen' };
const grayscale: Operation = { op: 'grayscale' };
const brightness: Operation = { op: 'brightness', factor: 1.5 };

/** The plan as op names, stage by stage, for readable expectations. */
function shape(operations: Operation[]): string[][] {
  return planStages(operations).map((stage) =>
    stage.map((operation) => operation.op),
  );
}

describe('planStages', () => {
  it('gives one empty stage for no operations', () => {
    expect(planStages([])).toEqual([[]]);
  });

  it('gives one stage for a single operation', () => {
    expect(shape([blur])).toEqual([['blur']]);
  });

  it('keeps the common chain crop, resize, blur, brightness, grayscale in one stage', () => {
    expect(shape([crop, resize, blur, brightness, grayscale])).toEqual([
      ['crop', 'resize', 'blur', 'brightness', 'grayscale'],
    ]);
  });

  it('runs a trim before a resize that follows its aspect ratio, so that the resize is judged from what the trim kept', () => {
    const trim: Operation = { op: 'trim' };
    expect(shape([trim, resize, blur])).toEqual([['trim'], ['resize', 'blur']]);
    expect(
      shape([trim, { op: 'resize', width: 100, height: 50, fit: 'outside' }]),
    ).toEqual([['trim'], ['resize']]);
    expect(shape([trim, { op: 'resize', width: 100, height: 50 }])).toEqual([
      ['trim', 'resize'],
    ]);
    expect(
      shape([trim, { op: 'resize', width: 100, withoutEnlargement: true }]),
    ).toEqual([['trim', 'resize']]);
    expect(shape([trim, crop, resize])).toEqual([['trim', 'crop', 'resize']]);
  });

  it.each([
    ['crop, resize, sharpen', [crop, resize, sharpen]],
    ['resize then crop', [resize, crop]],
    ['rotate 90 then resize', [rotate90, resize]],
    ['rotate 45 then resize', [rotate45, resize]],
    ['flip, flop, rotate, resize', [flip, flop, rotate90, resize]],
    ['crop, flip', [crop, flip]],
    ['crop, rotate', [crop, rotate90]],
    ['blur, brightness, sharpen', [blur, brightness, sharpen]],
    ['grayscale first', [grayscale, resize, blur]],
    ['grayscale between filters', [blur, grayscale, sharpen]],
  ])('keeps %s in one stage', (_label, operations) => {
    const stages = planStages(operations);
    expect(stages).toHaveLength(1);
    expect(stages[0]).toEqual(operations);
  });

  it.each([
    ['blur then resize', [blur, resize], [['blur'], ['resize']]],
    ['flip then crop', [flip, crop], [['flip'], ['crop']]],
    [
      'rotate then crop without a resize',
      [rotate90, crop],
      [['rotate'], ['crop']],
    ],
    ['sharpen then blur', [sharpen, blur], [['sharpen'], ['blur']]],
    ['brightness then blur', [brightness, blur], [['brightness'], ['blur']]],
    ['rotate then flip', [rotate90, flip], [['rotate'], ['flip']]],
    ['flop then flip', [flop, flip], [['flop'], ['flip']]],
    [
      'a crop after a filter, even after a resize',
      [resize, blur, crop],
      [['resize', 'blur'], ['crop']],
    ],
    [
      'crop, rotate, resize (resize cannot go back before the rotation)',
      [crop, rotate90, resize],
      [['crop', 'rotate'], ['resize']],
    ],
    [
      'a resize after a filter',
      [crop, brightness, resize],
      [['crop', 'brightness'], ['resize']],
    ],
    [
      'a mirror or rotation after a resize (sharp would do it before fitting the box)',
      [resize, flip, flop, rotate90],
      [['resize'], ['flip', 'flop', 'rotate']],
    ],
    [
      'a resize after a mirror alone (sharp would mirror after the resize)',
      [flip, resize],
      [['flip'], ['resize']],
    ],
  ])('splits %s', (_label, operations, expected) => {
    expect(shape(operations)).toEqual(expected);
  });

  it.each<[string, Operation[]]>([
    ['blur', [blur, { op: 'blur', sigma: 5 }]],
    ['resize', [resize, { op: 'resize', width: 50 }]],
    ['crop', [crop, crop]],
    ['rotate', [rotate90, rotate90]],
    ['flip', [flip, flip]],
    ['grayscale', [grayscale, grayscale]],
  ])(
    'starts a new stage for a repeated %s, because sharp keeps only its last call',
    (name, operations) => {
      expect(shape(operations)).toEqual([[name], [name]]);
    },
  );

  it('starts a new stage for a repeat even when it could otherwise join', () => {
    expect(
      shape([crop, resize, blur, { op: 'blur', sigma: 1 }, sharpen]),
    ).toEqual([
      ['crop', 'resize', 'blur'],
      ['blur', 'sharpen'],
    ]);
  });

  it('restarts the ranking in a new stage', () => {
    // After the split, crop is first in its stage again and resize may follow
    // it.
    expect(shape([blur, crop, resize, blur])).toEqual([
      ['blur'],
      ['crop', 'resize', 'blur'],
    ]);
  });

  it('keeps every operation, once, in the order given', () => {
    const operations = [
      sharpen,
      crop,
      flip,
      resize,
      rotate90,
      blur,
      grayscale,
      blur,
      flop,
      crop,
      brightness,
      resize,
    ];
    const stages = planStages(operations);
    expect(stages.flat()).toEqual(operations);
    stages.forEach((stage) => {
      expect(stage.length).toBeGreaterThan(0);
      const names = stage.map((operation) => operation.op);
      expect(new Set(names).size).toBe(names.length);
    });
  });

  it('passes the operation objects through unchanged', () => {
    const operations = [crop, resize];
    const [stage] = planStages(operations);
    expect(stage[0]).toBe(crop);
    expect(stage[1]).toBe(resize);
  });
});
