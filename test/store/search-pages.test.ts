/**
 * A search page has two plans (store/postgres/search-page.ts): taken from the matches of the
 * rarest condition in order when it has few of them, or a walk of the resources in id order
 * when every condition has many. Which one runs depends on counts inside the statement; here
 * the threshold is set low, between and high over the same data, so every plan answers every
 * page, and they must agree with each other and with the pages worked out here.
 */
import t from 'tap';
import type { Patient } from 'fhir/r4.js';
import { parseSearch } from '../../src/search/parse.js';
import type { PagePosition } from '../../src/search/query.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { runSearch, sightOf } from '../../src/store/postgres/search.js';
import { pageStatement } from '../../src/store/postgres/search-page.js';
import { searchIndexer } from '../../src/store/postgres/search-indexer.js';
import { testConfig } from '../helpers.js';

const ctx = { requestId: 'search-pages', access: 'unrestricted' as const };

t.test('both page plans give the same pages, forwards and backwards', async (t) => {
  const config = await testConfig(t);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  t.teardown(() => db.close());
  await migrate(db);
  const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl));
  const patients: Patient[] = [];
  for (let i = 0; i < 60; i++) {
    const patient: Patient = {
      resourceType: 'Patient',
      // Ids out of creation order, and rare names spread among them.
      id: `sp${String((i * 37) % 100).padStart(2, '0')}`,
      name: [{ family: i % 9 === 4 ? 'Rare' : 'Common' }],
      gender: i % 2 ? 'male' : 'female',
      birthDate: `${1950 + (i % 13)}-01-01`,
    };
    patients.push((await store.create(patient, ctx, patient.id)) as Patient);
  }
  await store.delete('Patient', 'sp37', ctx); // deleted: matches in the index no more

  const live = patients.filter((p) => p.id !== 'sp37');
  const byId = (a: Patient, b: Patient) => (a.id! < b.id! ? -1 : a.id! > b.id! ? 1 : 0);
  const expected: Record<string, Patient[]> = {
    'family=rare': live.filter((p) => p.name![0]!.family === 'Rare').sort(byId),
    'family=common': live.filter((p) => p.name![0]!.family === 'Common').sort(byId),
    'family=common&gender=male': live
      .filter((p) => p.name![0]!.family === 'Common' && p.gender === 'male')
      .sort(byId),
    'family=common&_sort=-birthdate': live
      .filter((p) => p.name![0]!.family === 'Common')
      .sort((a, b) => b.birthDate!.localeCompare(a.birthDate!) || byId(a, b)),
    'gender:not=male&family=rare': live
      .filter((p) => p.name![0]!.family === 'Rare' && p.gender !== 'male')
      .sort(byId),
    // The first condition common, a later one rare: with the threshold between them the rare
    // one is taken, and the pages must be the walk's.
    'gender=male&family=rare': live
      .filter((p) => p.name![0]!.family === 'Rare' && p.gender === 'male')
      .sort(byId),
    'gender=female&birthdate=1951&family=rare': live
      .filter(
        (p) =>
          p.name![0]!.family === 'Rare' && p.gender === 'female' && p.birthDate === '1951-01-01',
      )
      .sort(byId),
  };
  for (const [search, want] of Object.entries(expected)) {
    const wantIds = want.map((p) => p.id!);
    t.ok(wantIds.length > 0, `${search}: has matches`);
    for (const few of [2, 10, 5000]) {
      const query = parseSearch('Patient', new URLSearchParams(`${search}&_count=4`), {
        baseUrl: config.baseUrl,
        strict: true,
      });
      const pages: string[][] = [];
      let position: PagePosition | undefined;
      let last;
      do {
        last = await runSearch(db, query, position, ctx, few);
        pages.push(last.matches.map((r) => r.id!));
        position = last.next;
      } while (position);
      t.same(pages.flat(), wantIds, `${search}, threshold ${few}: every match once, in order`);
      t.ok(
        pages.slice(0, -1).every((p) => p.length === 4),
        `${search}, threshold ${few}: full pages`,
      );
      const back: string[][] = [];
      position = last.previous;
      while (position) {
        const previous = await runSearch(db, query, position, ctx, few);
        back.unshift(previous.matches.map((r) => r.id!));
        position = previous.previous;
      }
      t.same(
        [...back.flat(), ...pages[pages.length - 1]!],
        wantIds,
        `${search}, threshold ${few}: the same pages backwards`,
      );
    }
  }
});

/** Rows each branch of the page statement's UNION ALL returned, from EXPLAIN ANALYZE. */
async function branchRows(db: Database, text: string, values: unknown[]): Promise<number[]> {
  const [row] = await db.query<{ 'QUERY PLAN': unknown }>(
    `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
    values,
  );
  const raw = row!['QUERY PLAN'];
  type Node = { 'Node Type': string; 'Actual Rows'?: number; Plans?: Node[] };
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: Node }[];
  const find = (node: Node): Node | undefined =>
    node['Node Type'] === 'Append' ? node : node.Plans?.map(find).find(Boolean);
  const append = find(plan[0]!.Plan);
  return (append?.Plans ?? [])
    .filter((n) => (n as { 'Parent Relationship'?: string })['Parent Relationship'] === 'Member')
    .map((n) => n['Actual Rows'] ?? 0);
}

t.test('the page is taken from the rarest condition, wherever it is in the query', async (t) => {
  const config = await testConfig(t);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  t.teardown(() => db.close());
  await migrate(db);
  const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl));
  for (let i = 0; i < 30; i++) {
    const patient: Patient = {
      resourceType: 'Patient',
      id: `rp${i}`,
      name: [{ family: i % 10 === 3 ? 'Rare' : 'Common' }],
      gender: i % 2 ? 'male' : 'female',
    };
    await store.create(patient, ctx, patient.id);
  }
  const sight = sightOf(ctx, 'Patient');
  // [taken from condition 0, taken from condition 1, walk]: the rows each returned.
  for (const [search, want] of [
    ['gender=male&family=rare', [0, 3, 0]], // 15 male, 3 rare: the rare one, though second
    ['family=rare&gender=male', [3, 0, 0]],
    ['gender=male&family=common', [0, 0, 5]], // 15 and 27: both over the threshold, walk
  ] as const) {
    const query = parseSearch('Patient', new URLSearchParams(`${search}&_count=4`), {
      baseUrl: config.baseUrl,
      strict: true,
    });
    const { text, values, probes } = pageStatement(query, undefined, sight, 10);
    t.equal(probes, 2, `${search}: both conditions are counted`);
    t.same(await branchRows(db, text, values), want, `${search}: the branch that ran`);
    t.equal(text.match(/FROM idx_string/g)?.length, 1, `${search}: the name condition once`);
  }
});
