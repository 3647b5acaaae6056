import { preparedStatement } from './prepared-statement';

describe('preparedStatement', () => {
  it('names its statement in the query it makes, with the values given', () => {
    const byId = preparedStatement(
      'spec-find-job',
      'SELECT id FROM jobs WHERE id = $1',
    );
    expect(byId(['a'])).toEqual({
      name: 'spec-find-job',
      text: 'SELECT id FROM jobs WHERE id = $1',
      values: ['a'],
    });
  });

  it('takes the same statement defined again, as a module loaded twice does', () => {
    const text = 'SELECT 1';
    preparedStatement('spec-same', text);
    expect(preparedStatement('spec-same', text)([])).toMatchObject({
      name: 'spec-same',
    });
  });

  it('refuses a second text under a name, which every connection would reject', () => {
    preparedStatement('spec-taken', 'SELECT 1');
    expect(() => preparedStatement('spec-taken', 'SELECT 2')).toThrow(
      'Two statements are prepared as "spec-taken"',
    );
  });
});
