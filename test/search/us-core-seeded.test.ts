/**
 * Issue 24's proof that the searches we state are real: a small seeded population (src/seed/,
 * written through the normal write path with US Core enforced by default), then every SHALL
 * search of the CapabilityStatement `GET /metadata` serves (single parameters and
 * combinations), and the SHOULD ones too, with values taken from the seeded resources:
 * tokens as system|code and as a two-code OR-list, dates with eq/ge/le/gt/lt around the value,
 * strings as a case-changed prefix, references as the resource's own. Each search must find
 * the resource its values came from, and every match must satisfy every parameter, judged
 * here by the SearchParameter's own FHIRPath (the fhirpath package, R4 model) rather than the
 * server's index, and must validate against the profiles the server enforces. A PATIENT token
 * must see only that patient's resources. A SHALL search the seed leaves unpopulated fails;
 * a SHOULD one is named in a comment (today: Goal description, whose seeded text has no code).
 */
import type { CapabilityStatementRestResource, Resource } from 'fhir/r4.js';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { searchParam } from '../../src/search/registry.js';
import { OBSERVATION_CATEGORY } from '../../src/seed/context.js';
import { generatePopulation } from '../../src/seed/generate.js';
import { createValidator } from '../../src/validation/index.js';
import { fhir, startTestServer, testToken } from '../helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const EXPECTATION = 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation';
const COMBINATION =
  'http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination';

const population = generatePopulation({
  seed: 'us-core-shall',
  patients: 2,
  anchor: new Date('2026-01-05T00:00:00Z'),
}).filter((r) => RESOURCE_TYPES.has(r.resourceType));
const { validator } = createValidator({ defaultProfiles: true });

interface Search {
  type: string;
  params: string[];
  expectation: string;
}

/** The searches of one type the statement gives an expectation: singles and combinations. */
function searchesOf(resource: CapabilityStatementRestResource): Search[] {
  const expectation = (ext: Json[] | undefined) =>
    ext?.find((e) => e.url === EXPECTATION)?.valueCode as string | undefined;
  const singles = (resource.searchParam ?? []).flatMap((p) => {
    const e = expectation(p.extension);
    return e ? [{ type: resource.type, params: [p.name], expectation: e }] : [];
  });
  const combos = (resource.extension ?? [])
    .filter((e) => e.url === COMBINATION)
    .map((e) => ({
      type: resource.type,
      params: e.extension!.filter((x) => x.url === 'required').map((x) => x.valueString!),
      expectation: expectation(e.extension)!,
    }));
  return [...singles, ...combos];
}

// ---- evaluating a parameter on a resource, independently of the server's index ----

const compiled = new Map<string, (r: Json) => unknown[]>();

/** The values `code`'s FHIRPath gives on `resource`; `.where(resolve() is X)` as a type filter. */
function valuesOf(resource: Json, code: string): unknown[] {
  const key = `${resource.resourceType}.${code}`;
  let fn = compiled.get(key);
  if (!fn) {
    const def = searchParam(resource.resourceType, code);
    if (!def) throw new Error(`no parameter ${key}`);
    const parts = def.expression.split(' | ').map((part) => {
      const m = /^(.*)\.where\(resolve\(\) is (\w+)\)$/.exec(part.trim());
      const path = m ? m[1]! : part.trim();
      const evaluate = fhirpath.compile(path, r4) as (r: Json) => unknown[];
      if (!m) return evaluate;
      const target = m[2]!;
      return (r: Json) =>
        evaluate(r).filter((ref) => (referenceOf(ref) ?? '').startsWith(`${target}/`));
    });
    fn = (r: Json) => parts.flatMap((evaluate) => evaluate(r));
    compiled.set(key, fn);
  }
  return fn(resource);
}

/** A Reference's reference, or a canonical as written. */
const referenceOf = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : ((value as Json)?.reference as string | undefined);

const normalise = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();

/** Every string of a string parameter's value (HumanName, Address parts, or the string). */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object')
    return Object.entries(value as Json)
      .filter(([k]) => !['period', 'use', 'extension', 'id'].includes(k))
      .flatMap(([, v]) => (Array.isArray(v) ? v.flatMap(stringsOf) : stringsOf(v)));
  return [];
}

interface Token {
  system?: string;
  code: string;
}

/** The (system, code) pairs of a token parameter's value. */
function tokensOf(value: unknown): Token[] {
  if (typeof value === 'string' || typeof value === 'boolean') return [{ code: String(value) }];
  const v = value as Json;
  if (Array.isArray(v.coding)) return v.coding.flatMap(tokensOf);
  if (v.code !== undefined) return [{ system: v.system, code: String(v.code) }];
  if (v.value !== undefined) return [{ system: v.system, code: String(v.value) }];
  return [];
}

/** The instants a date value covers, [start, end] in ms; open Period ends are infinite. */
function rangeOf(value: unknown): [number, number] | undefined {
  if (typeof value === 'string') return precisionRange(value);
  const v = value as Json;
  if (v && (v.start !== undefined || v.end !== undefined)) {
    const start = v.start ? precisionRange(v.start)![0] : -Infinity;
    const end = v.end ? precisionRange(v.end)![1] : Infinity;
    return [start, end];
  }
  return undefined;
}

function precisionRange(value: string): [number, number] | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
  if (m) {
    const y = Number(m[1]);
    if (!m[2]) return [Date.UTC(y, 0, 1), Date.UTC(y + 1, 0, 1) - 1];
    const mo = Number(m[2]) - 1;
    if (!m[3]) return [Date.UTC(y, mo, 1), Date.UTC(y, mo + 1, 1) - 1];
    const d = Number(m[3]);
    return [Date.UTC(y, mo, d), Date.UTC(y, mo, d + 1) - 1];
  }
  const withZone = /[zZ]|[+-]\d{2}:\d{2}$/.test(value) ? value : `${value}Z`;
  const ms = Date.parse(withZone);
  if (Number.isNaN(ms)) return undefined;
  const fraction = /\.(\d+)/.exec(value)?.[1];
  const seconds = /T\d{2}:\d{2}:\d{2}/.test(value);
  const width = fraction ? 1 : seconds ? 1000 : 60_000;
  return [ms, ms + width - 1];
}

/** Whether `resource` satisfies `code=raw` (one parameter, possibly an OR-list). */
function satisfies(resource: Json, code: string, raw: string): boolean {
  const def = searchParam(resource.resourceType, code)!;
  const values = valuesOf(resource, code);
  return raw.split(',').some((one) => {
    switch (def.type) {
      case 'token': {
        const bar = one.indexOf('|');
        const system = bar < 0 ? undefined : one.slice(0, bar);
        const wanted = bar < 0 ? one : one.slice(bar + 1);
        return values
          .flatMap(tokensOf)
          .some(
            (tok) =>
              tok.code === wanted &&
              (system === undefined || (system === '' ? !tok.system : tok.system === system)),
          );
      }
      case 'reference':
        return values.some((ref) => {
          const reference = referenceOf(ref) ?? '';
          return one.includes('/') ? reference.endsWith(one) : reference.endsWith(`/${one}`);
        });
      case 'string':
        return values.flatMap(stringsOf).some((s) => normalise(s).startsWith(normalise(one)));
      case 'date': {
        const prefix = /^(eq|ne|gt|lt|ge|le|sa|eb)/.exec(one)?.[1] ?? 'eq';
        const [ps, pe] = precisionRange(one.replace(/^[a-z]{2}/, ''))!;
        return values.some((value) => {
          const range = rangeOf(value);
          if (!range) return false;
          const [ts, te] = range;
          switch (prefix) {
            case 'ge':
              return te >= ps;
            case 'le':
              return ts <= pe;
            case 'gt':
              return te > pe;
            case 'lt':
              return ts < ps;
            default:
              return ts >= ps && te <= pe;
          }
        });
      }
      default:
        throw new Error(`no check for ${def.type} parameter ${code}`);
    }
  });
}

// ---- values from the seed ----

const byType = (type: string) => population.filter((r) => r.resourceType === type) as Json[];
const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Ways to write `code` so that `resource` matches, from its own values (first is plain). */
function variants(resource: Json, code: string): string[] {
  const def = searchParam(resource.resourceType, code)!;
  const values = valuesOf(resource, code);
  if (!values.length) return [];
  switch (def.type) {
    case 'token': {
      const own = values.flatMap(tokensOf)[0];
      if (!own) return [];
      const written = own.system ? `${own.system}|${own.code}` : own.code;
      // An OR-list with a code another resource of the type has, or one nobody has.
      const other =
        byType(resource.resourceType)
          .flatMap((r) => valuesOf(r, code).flatMap(tokensOf))
          .find((tok) => tok.code !== own.code) ??
        ({ system: 'urn:x:none', code: 'none' } as Token);
      const otherWritten = other.system ? `${other.system}|${other.code}` : other.code;
      // And the code under a system it is not in, which must not find it.
      const elsewhere = own.system ? [`urn:x:elsewhere|${own.code}`] : [];
      return [written, `${otherWritten},${written}`, ...elsewhere];
    }
    case 'reference': {
      const reference = referenceOf(values[0]);
      if (!reference) return [];
      return code === 'patient' ? [reference.split('/').pop()!, reference] : [reference];
    }
    case 'string': {
      const s = values.flatMap(stringsOf).find((x) => x.trim().length > 0);
      if (!s) return [];
      return [s.slice(0, Math.min(4, s.length)).toUpperCase(), s.toLowerCase()];
    }
    case 'date': {
      const range = values.map(rangeOf).find((r) => r && Number.isFinite(r[0]));
      if (!range) return [];
      const d = day(range[0]);
      // Around the day it starts: the first four find it; lt that day, and gt the day it
      // ends, must not.
      return [
        `ge${d}`,
        `le${d}`,
        `gt${day(range[0] - DAY)}`,
        `lt${day(range[0] + DAY)}`,
        d,
        `lt${d}`,
        ...(Number.isFinite(range[1]) ? [`gt${day(range[1])}`] : []),
      ];
    }
    default:
      throw new Error(`no variants for ${def.type} parameter ${code}`);
  }
}

/** Queries for `search` from `resource`: every parameter plain, then each varied in turn. */
function queriesFrom(resource: Json, params: string[]): Record<string, string>[] | undefined {
  const ways = params.map((code) => variants(resource, code));
  if (ways.some((w) => !w.length)) return undefined;
  const plain = Object.fromEntries(params.map((code, i) => [code, ways[i]![0]!]));
  const queries = [plain];
  params.forEach((code, i) => {
    for (const alt of ways[i]!.slice(1)) queries.push({ ...plain, [code]: alt });
  });
  return queries;
}

const patientOf = (r: Json): string | undefined => {
  if (r.resourceType === 'Patient') return `Patient/${r.id}`;
  if (!searchParam(r.resourceType, 'patient')) return undefined;
  const ref = valuesOf(r, 'patient')[0] as Json | undefined;
  return ref?.reference;
};

// ---- the test ----

t.test('every SHALL search of the CapabilityStatement over a seeded population', async (t) => {
  const { base } = await startTestServer(t, { defaultProfiles: 'us-core' });
  for (const resource of population) {
    const res = await fhir(base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
    if (res.status >= 300) throw new Error(`${resource.resourceType}/${resource.id}: ${res.text}`);
  }
  const metadata = await fhir(base, 'GET', 'metadata');
  t.equal(metadata.status, 200, 'the CapabilityStatement');
  const searches = (metadata.body.rest[0].resource as CapabilityStatementRestResource[]).flatMap(
    searchesOf,
  );
  const shall = searches.filter((s) => s.expectation === 'SHALL');
  t.ok(shall.length >= 40, `the statement states SHALL searches (${shall.length})`);

  const admin = {
    authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/admin' })}`,
  };
  const patients = byType('Patient');
  const [me, other] = patients as [Json, Json];
  const mine = {
    authorization: `Bearer ${testToken({
      scope: 'patient/*.rs',
      patient: me.id,
      role: 'PATIENT',
      fhirUser: `Patient/${me.id}`,
    })}`,
  };

  const unpopulated: string[] = [];
  const unpopulatedShould: string[] = [];
  let finding = 0;
  let compartmentChecks = 0;
  let excluding = 0;
  const problems: string[] = [];
  const validated = new Set<string>();
  let runs = 0;

  const run = async (
    type: string,
    query: Record<string, string>,
    headers: Record<string, string>,
  ) => {
    const search = new URLSearchParams({ ...query, _count: '1000' }).toString();
    const res = await fhir(base, 'GET', `${type}?${search}`, undefined, headers);
    const qs = decodeURIComponent(search);
    runs++;
    if (res.status !== 200) {
      problems.push(`${type}?${qs}: ${res.status} ${res.text.slice(0, 200)}`);
      return { qs, matches: [] as Json[] };
    }
    const matches: Json[] = (res.body.entry ?? [])
      .filter((e: Json) => e.search?.mode === 'match')
      .map((e: Json) => e.resource as Json);
    for (const found of matches) {
      for (const [code, raw] of Object.entries(query))
        if (!satisfies(found, code, raw))
          problems.push(`${type}?${qs} returned ${type}/${found.id}, which fails ${code}=${raw}`);
      const key = `${type}/${found.id}`;
      if (!validated.has(key)) {
        validated.add(key);
        const errors = validator
          .validate(found as Resource)
          .filter((issue) => issue.severity === 'error');
        for (const e of errors) problems.push(`${key} as served is invalid: ${e.diagnostics}`);
      }
    }
    return { qs, matches };
  };

  for (const search of searches) {
    const { type, params } = search;
    const label = `${type}?${params.join('&')} (${search.expectation})`;
    const candidates = byType(type);
    // Seeded resources with a value for every parameter: up to three with different values
    // (other than the patient), the first searched in every variant, the others plainly.
    const sources = new Map<string, Json>();
    for (const r of candidates) {
      const plain = queriesFrom(r, params)?.[0];
      if (!plain) continue;
      const key = JSON.stringify({ ...plain, patient: undefined });
      if (!sources.has(key) && sources.size < 3) sources.set(key, r);
    }
    if (!sources.size) {
      (search.expectation === 'SHALL' ? unpopulated : unpopulatedShould).push(label);
      continue;
    }
    let first = true;
    for (const source of sources.values()) {
      const queries = queriesFrom(source, params)!;
      for (const query of first ? queries : queries.slice(0, 1)) {
        const { qs, matches } = await run(type, query, admin);
        const expected = Object.entries(query).every(([code, raw]) => satisfies(source, code, raw));
        const found = matches.some((m) => m.id === source.id);
        if (expected && !found) problems.push(`${type}?${qs} misses ${type}/${source.id}`);
        if (expected) finding++;
        else excluding++;
      }
      first = false;
    }

    // A PATIENT sees their own resources only, and finds them.
    if (!params.includes('patient') && type !== 'Patient') continue;
    const own = candidates.find(
      (r) => patientOf(r) === `Patient/${me.id}` && queriesFrom(r, params),
    );
    if (!own) continue;
    const [query] = queriesFrom(own, params)!;
    const searched = await run(type, query!, mine);
    if (!searched.matches.some((m) => m.id === own.id))
      problems.push(`as ${me.id}: ${type}?${searched.qs} misses ${type}/${own.id}`);
    const compartment = async (q: Record<string, string>, expect?: Json) => {
      const { qs, matches } = await run(type, q, mine);
      for (const m of matches)
        if (patientOf(m) !== `Patient/${me.id}`)
          problems.push(`as ${me.id}: ${type}?${qs} returned ${type}/${m.id} of ${patientOf(m)}`);
      if (expect && !matches.some((m) => m.id === expect.id))
        problems.push(`as ${me.id}: ${type}?${qs} misses ${type}/${expect.id}`);
    };
    // Without the patient parameter: their own, and nothing of the other patient's, even
    // by values an ADMIN finds the other patient's resource by.
    const withoutPatient = (q: Record<string, string>) =>
      Object.fromEntries(Object.entries(q).filter(([k]) => k !== 'patient'));
    const rest = withoutPatient(query!);
    if (Object.keys(rest).length) await compartment(rest, own);
    const theirs = candidates.find(
      (r) => patientOf(r) === `Patient/${other.id}` && queriesFrom(r, params),
    );
    const theirQuery = theirs && withoutPatient(queriesFrom(theirs, params)![0]!);
    if (theirs && Object.keys(theirQuery!).length) {
      const seen = await run(type, theirQuery!, admin);
      if (!seen.matches.some((m) => m.id === theirs.id))
        problems.push(`${type}?${seen.qs} misses ${type}/${theirs.id}`);
      await compartment(theirQuery!);
      compartmentChecks++;
    }
    // Naming the other patient: refused, or nothing.
    if (params.includes('patient')) {
      const res = await fhir(
        base,
        'GET',
        `${type}?${new URLSearchParams({ ...query!, patient: other.id })}`,
        undefined,
        mine,
      );
      runs++;
      const leaked = (res.body?.entry ?? []).filter((e: Json) => e.search?.mode === 'match');
      if (![200, 403, 404].includes(res.status) || leaked.length)
        problems.push(
          `as ${me.id}: ${type}?patient=${other.id}: ${res.status}, ${leaked.length} matches`,
        );
    }
  }

  t.same(unpopulated, [], 'every SHALL search the statement states has seeded data to find');
  t.same(problems, [], 'every search finds its source, and only matches, all valid');
  if (unpopulatedShould.length)
    t.comment(`SHOULD searches the seed has no data for: ${unpopulatedShould.join(', ')}`);
  t.ok(runs > 150, `searches run: ${runs}`);
  t.ok(finding > 100, `searches whose source must be found: ${finding}`);
  t.ok(
    excluding > 20,
    `searches whose source must not be (a comparator or system past it): ${excluding}`,
  );
  t.ok(
    compartmentChecks > 20,
    `searches a PATIENT ran by the other's values: ${compartmentChecks}`,
  );
  t.ok(validated.size > 50, `distinct resources validated as served: ${validated.size}`);
});

t.test('the independent checks bite: each tells a match from a near miss', async (t) => {
  const [me, other] = byType('Patient') as [Json, Json];
  const vital = byType('Observation').find((o) =>
    valuesOf(o, 'category')
      .flatMap(tokensOf)
      .some((tok) => tok.code === 'vital-signs'),
  )!;
  const when = rangeOf(valuesOf(vital, 'date')[0])!;
  const mine = patientOf(vital)!.split('/')[1]!;
  const notMine = mine === me.id ? other.id : me.id;
  const category = `${OBSERVATION_CATEGORY}|vital-signs`;
  t.ok(satisfies(vital, 'patient', mine), 'its patient');
  t.notOk(satisfies(vital, 'patient', notMine), 'another patient');
  t.ok(satisfies(vital, 'category', category), 'system|code');
  t.ok(satisfies(vital, 'category', 'vital-signs'), 'a code alone');
  t.ok(satisfies(vital, 'category', `urn:x:none|none,${category}`), 'an OR-list');
  t.notOk(satisfies(vital, 'category', `urn:x:elsewhere|vital-signs`), 'another system');
  t.notOk(satisfies(vital, 'category', `${OBSERVATION_CATEGORY}|laboratory`), 'another code');
  t.ok(satisfies(vital, 'date', `ge${day(when[0])}`), 'ge its day');
  t.notOk(satisfies(vital, 'date', `gt${day(when[1])}`), 'gt the day it ends');
  t.notOk(satisfies(vital, 'date', `lt${day(when[0])}`), 'lt the day it starts');
  t.notOk(satisfies(vital, 'date', day(when[0] + DAY)), 'eq another day');
  const family = (me.name as Json[])[0]!.family as string;
  t.ok(satisfies(me, 'name', family.slice(0, 3).toUpperCase()), 'a prefix, in any case');
  t.ok(satisfies({ ...me, name: [{ family: 'Muñoz' }] }, 'name', 'munoz'), 'without accents');
  t.notOk(satisfies(me, 'name', family.slice(1)), 'not a prefix');
  t.ok(satisfies(me, '_id', me.id), 'its id');
  t.notOk(satisfies(me, '_id', other.id), 'another id');
});
