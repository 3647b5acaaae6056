import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPERATION_EXAMPLES } from './operation-examples';
import { OPERATION_NAMES } from './operations';
import { parseOperations } from './validation';

/**
 * The README's examples are requests users will copy: each must be valid, and
 * every operation needs one.
 */
describe('the README', () => {
  const readme = readFileSync(
    join(__dirname, '..', '..', '..', 'README.md'),
    'utf8',
  );
  const block =
    readme
      .split('One example of each')[1]
      ?.split('```json')[1]
      ?.split('```')[0] ?? '';
  const examples = block
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { op: string });

  it('shows the examples the OpenAPI description carries, one or more of every operation', () => {
    expect(examples).toEqual(OPERATION_EXAMPLES);
    expect(new Set(examples.map((example) => example.op))).toEqual(
      new Set(OPERATION_NAMES),
    );
  });

  it.each(examples.map((example) => [JSON.stringify(example), example]))(
    '%s is a valid operation',
    (_text, example) => {
      expect(parseOperations([example])).toEqual([example]);
    },
  );
});
