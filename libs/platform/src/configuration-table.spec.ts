import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BrokerUsersConfig,
  DatabaseConfig,
  ProducerConfig,
  WorkerConfig,
  WriterConfig,
} from './settings';

/**
 * The README's configuration table is where operators look a setting up: every
 * setting an app reads is in it.
 */
describe("the README's configuration table", () => {
  const readme = readFileSync(
    join(__dirname, '..', '..', '..', 'README.md'),
    'utf8',
  );
  const table =
    readme.split('\n## Configuration\n')[1]?.split('\n## ')[0] ?? '';
  const documented = new Set(
    [...table.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1]),
  );

  it.each([
    ['producer', ProducerConfig],
    ['image-worker', WorkerConfig],
    ['results-writer', WriterConfig],
    ['migrator', DatabaseConfig],
    ['broker-users', BrokerUsersConfig],
  ] as const)('names every setting the %s reads', (_app, config) => {
    expect(
      Object.keys(new config()).filter((name) => !documented.has(name)),
    ).toEqual([]);
  });
});
