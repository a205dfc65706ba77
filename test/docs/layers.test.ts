/**
 * The floors of docs/architecture.md, checked on the imports themselves: a lower room that
 * reaches into a higher one compiles fine, so only a test notices.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';
import { fromRoot } from '../../src/paths.js';

const SRC = fromRoot('src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Every file of src/ with the src-relative paths of the modules it imports. */
const imports = sources(SRC).map((file) => {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
    relative(SRC, resolve(dirname(file), m[1]!)),
  );
  return { file: relative(SRC, file), specs };
});

const offenders = (from: (file: string) => boolean, to: (spec: string) => boolean) =>
  imports.flatMap(({ file, specs }) =>
    from(file) ? specs.filter(to).map((spec) => `${file} → ${spec}`) : [],
  );

t.test('the scan sees the imports it checks', async (t) => {
  t.ok(imports.length > 100, 'every source file');
  t.ok(
    imports.some(({ specs }) => specs.includes('db/database.js')),
    'imports of the database layer are found',
  );
});

t.test('only rest/ and the composition root import rest/', async (t) => {
  t.same(
    offenders(
      (file) => !file.startsWith('rest/') && file !== 'app.ts',
      (spec) => spec.startsWith('rest/'),
    ),
    [],
  );
});

t.test('the database layer is db/, and db/ imports nothing above it', async (t) => {
  t.same(
    offenders(
      () => true,
      (spec) => /^store\/postgres\/(database|migrate|connection-queue|pglite-template)/.test(spec),
    ),
    [],
    'nobody reaches the connection or migrations through store/postgres',
  );
  t.same(
    offenders(
      (file) => file.startsWith('db/'),
      (spec) => !spec.startsWith('db/') && spec !== 'paths.js',
    ),
    [],
  );
});

t.test('exchange/ (shared by rest and operations) imports neither of them', async (t) => {
  t.same(
    offenders(
      (file) => file.startsWith('exchange/'),
      (spec) => spec.startsWith('rest/') || spec.startsWith('operations/'),
    ),
    [],
  );
});

t.test('only store/postgres/ names the clinical tables', async (t) => {
  const clinical =
    /\b(resource_current|resource_history|idx_(string|token|date|reference|number|uri))\b/;
  const naming = sources(SRC)
    .map((file) => relative(SRC, file))
    .filter((file) => !file.startsWith('store/postgres/'))
    .filter((file) => clinical.test(readFileSync(join(SRC, file), 'utf8')));
  t.same(naming, []);
});
