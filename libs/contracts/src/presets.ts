import { JobSpec, parseJobSpec, RequestedSpecFields } from './jobs';
import {
  collectProblems,
  isPlainObject,
  parseJsonText,
  parseOperations,
  ValidationFailed,
} from './validation';
import { parseRequestedVariants } from './variants';

/**
 * Named operation lists with their output, chosen by `"preset": "<name>"`
 * instead of `operations`.
 */
export type Presets = Record<string, JobSpec>;

export const DEFAULT_PRESETS: Presets = {
  thumbnail: {
    operations: [
      {
        op: 'resize',
        width: 320,
        height: 320,
        fit: 'cover',
        position: 'attention',
      },
    ],
    output: { format: 'webp', quality: 80 },
  },
  web: {
    operations: [
      { op: 'resize', width: 1600, fit: 'inside', withoutEnlargement: true },
    ],
    output: { format: 'jpeg', quality: 82, progressive: true },
  },
  avatar: {
    operations: [
      {
        op: 'resize',
        width: 256,
        height: 256,
        fit: 'cover',
        position: 'attention',
      },
    ],
    output: { format: 'webp', quality: 85 },
  },
};

const PRESET_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * Reads presets from configuration (a JSON object of name → {operations,
 * output}), checking each like a job.
 */
export function parsePresets(json: string): Presets {
  const raw = parseJsonText(json, 'PRESETS');
  if (!isPlainObject(raw))
    throw new ValidationFailed([
      'PRESETS must be a JSON object of name → {operations, output}',
    ]);
  const problems: string[] = [];
  const presets: Presets = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!PRESET_NAME.test(name)) {
      problems.push(
        `PRESETS: "${name}" is not a valid preset name (lower-case letters, digits, - and _)`,
      );
      continue;
    }
    const { operations, output } = isPlainObject(value)
      ? value
      : { operations: undefined, output: undefined };
    try {
      presets[name] = parseJobSpec(operations, output);
    } catch (error) {
      if (!(error instanceof ValidationFailed)) throw error;
      problems.push(
        ...error.problems.map((problem) => `PRESETS.${name}: ${problem}`),
      );
    }
  }
  if (problems.length > 0) throw new ValidationFailed(problems);
  return presets;
}

/**
 * The spec a request asks for: its own operations, or a preset's (whose output
 * options the request's `output` may override field by field), never both. With
 * `outputs`, the same for each output, after the request's own operations,
 * which all outputs share.
 */
export function resolveRequestedSpec(
  fields: RequestedSpecFields,
  presets: Presets,
): JobSpec {
  if (fields.outputs !== undefined) return resolveVariants(fields, presets);
  if (fields.preset === undefined)
    return parseJobSpec(fields.operations, fields.output);
  if (
    typeof fields.preset !== 'string' ||
    !Object.hasOwn(presets, fields.preset)
  ) {
    throw new ValidationFailed([
      `preset ${JSON.stringify(fields.preset)} is not defined (defined: ${Object.keys(presets).join(', ') || 'none'})`,
    ]);
  }
  if (fields.operations !== undefined)
    throw new ValidationFailed(['give either preset or operations, not both']);
  if (fields.output !== undefined && !isPlainObject(fields.output))
    throw new ValidationFailed(['output must be an object']);
  const preset = presets[fields.preset];
  return parseJobSpec(preset.operations, {
    ...preset.output,
    ...(fields.output ?? {}),
  });
}

function resolveVariants(
  fields: RequestedSpecFields,
  presets: Presets,
): JobSpec {
  const problems: string[] = [];
  if (fields.preset !== undefined)
    problems.push('preset goes inside each of outputs, not beside them');
  if (fields.output !== undefined)
    problems.push(
      'output options go inside each of outputs (format, quality, …), not in output',
    );
  const operations =
    fields.operations === undefined
      ? []
      : collectProblems(problems, () => parseOperations(fields.operations));
  const variants = collectProblems(problems, () =>
    parseRequestedVariants(fields.outputs, (item) =>
      resolveRequestedSpec(item, presets),
    ),
  );
  if (problems.length > 0) throw new ValidationFailed(problems);
  return { operations: operations!, output: {}, variants: variants! };
}
