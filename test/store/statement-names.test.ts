/**
 * Statements are prepared under names of their shape (src/db/statement-names.ts):
 * pg refuses a name already prepared for other SQL on a connection, so two shapes must never
 * share one, and the number of names is bounded so a client can't fill every connection.
 */
import t from 'tap';
import { StatementNames } from '../../src/db/statement-names.js';

t.test('each text has its own name, the same every time', async (t) => {
  const names = new StatementNames();
  const texts = [
    'SELECT 1',
    'SELECT 1 ', // differs only in a space: another statement for pg
    'SELECT r.content FROM resource_current r WHERE r.id = $1',
    'SELECT r.content FROM resource_current r WHERE r.id = $1 AND NOT r.deleted',
  ];
  const given = texts.map((text) => names.nameOf(text));
  t.equal(new Set(given).size, texts.length, 'no two shapes share a name');
  t.same(
    texts.map((text) => names.nameOf(text)),
    given,
    'asked again, the same names',
  );
  for (const name of given) {
    t.match(name, /^s_[0-9a-f]{32}$/, 'an identifier Postgres keeps whole (< 64 bytes)');
  }
  t.same(
    new StatementNames().nameOf(texts[2]!),
    given[2],
    'another process names it alike (a digest, not a counter)',
  );
});

t.test('past the bound, new shapes run unnamed; named ones keep their names', async (t) => {
  const names = new StatementNames(2);
  const a = names.nameOf('SELECT $1::int');
  const b = names.nameOf('SELECT $1::text');
  t.ok(a && b);
  t.equal(names.nameOf('SELECT $1::date'), undefined, 'a third shape is not prepared');
  t.equal(names.nameOf('SELECT $1::int'), a, 'the first still is');
});

t.test("search shapes have a budget of their own: clients can't use up the server's", async (t) => {
  const { MAX_SEARCH_NAMED, searchStatementName, statementName } =
    await import('../../src/db/statement-names.js');
  const named = Array.from({ length: MAX_SEARCH_NAMED }, (_, n) =>
    searchStatementName(`SELECT ${n} WHERE $1`),
  );
  t.ok(
    named.every((name) => typeof name === 'string'),
    `the first ${MAX_SEARCH_NAMED} search shapes are named`,
  );
  t.equal(
    searchStatementName('SELECT -1 WHERE $1'),
    false,
    'past its budget a search runs unnamed',
  );
  t.match(
    statementName('SELECT r.content FROM resource_current r WHERE r.id = $1'),
    /^s_/,
    'the server’s own statements are still named',
  );
});
