/**
 * `$export?_deidentify=safe-harbor` end to end: a seeded population (src/seed/, with SSNs)
 * written through the server, an export kicked off by a caller allowed only de-identified
 * output, the replica's own worker running it while the test polls the status URL, then every
 * file downloaded and every byte scanned for the identifying values of what was written and of
 * what the store holds (an identified export of the same data: MRNs the server assigned, SSNs
 * as it masks them). Attack tests first: who may not ask for it, and that a de-identified-only
 * caller can't reach identified output by any route.
 */
import type { Patient, Resource } from 'fhir/r4.js';
import t from 'tap';
import { generatePopulation } from '../../src/seed/generate.js';
import { writePopulation } from '../../src/seed/write.js';
import { fhir, startServer, testConfig, testToken, type Running } from '../helpers.js';
import { ASYNC, bearer, download, kick, type Manifest } from './export-helpers.js';
import { identifyingValues, leaks, visit } from './identifying-values.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
/** A backend service allowed the de-identified export only. */
const DEID_ONLY = bearer({
  sub: 'svc-research',
  client_id: 'svc-research',
  scope: 'telefhir/export.deidentified',
});
/** A backend service allowed identified exports (and not the de-identified kind). */
const SERVICE = bearer({ sub: 'svc-a', client_id: 'svc-a', scope: 'system/*.rs' });

const population = generatePopulation({
  seed: 'export-deid',
  patients: 3,
  anchor: new Date('2026-01-05T00:00:00Z'),
});
population.forEach((resource, n) => {
  if (resource.resourceType !== 'Patient') return;
  const patient = resource as Patient;
  patient.identifier = [
    ...(patient.identifier ?? []),
    { system: SSN_SYSTEM, value: `900-${String(20 + n).slice(-2)}-${String(4000 + n).slice(-4)}` },
  ];
});

async function seededServer(t: Parameters<typeof testConfig>[0]): Promise<Running> {
  const config = await testConfig(t);
  // The replica's own worker, polling often: the test only watches the status URL.
  config.bulkExport = { ...config.bulkExport, pollMs: 50 };
  const running = await startServer(t, config);
  const seeder = testToken({
    sub: 'telefhir-seed',
    client_id: 'telefhir-seed',
    scope: 'system/*.*',
  });
  await writePopulation(running.app, seeder, population);
  return running;
}

/** Polls the status URL until the job is done; the manifest. */
async function finished(base: string, status: string, headers: Record<string, string>) {
  for (let i = 0; i < 600; i++) {
    const res = await fhir(base, 'GET', status, undefined, headers);
    if (res.status === 200) return res.body as Manifest;
    if (res.status !== 202) throw new Error(`status ${res.status}: ${res.text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the export did not finish in 60 s');
}

t.test('$export?_deidentify=safe-harbor', async (t) => {
  const running = await seededServer(t);
  const { base } = running;

  await t.test('attack: callers not allowed the de-identified export get 403', async (t) => {
    const callers: [string, Record<string, string>][] = [
      ['a backend service without the scope', SERVICE],
      ['a provider', bearer({ scope: 'user/*.rs', role: 'PROVIDER', fhirUser: 'Practitioner/x' })],
      [
        'a provider holding the scope',
        bearer({
          scope: 'user/*.rs telefhir/export.deidentified',
          role: 'PROVIDER',
          fhirUser: 'Practitioner/x',
        }),
      ],
    ];
    for (const [name, headers] of callers) {
      const { res, status } = await kick(base, '$export?_deidentify=safe-harbor', headers);
      t.equal(res.status, 403, name);
      t.equal(res.body?.resourceType, 'OperationOutcome', `${name}: an OperationOutcome`);
      t.equal(status, '', `${name}: no job`);
    }
  });

  await t.test('attack: a de-identified-only caller never reaches identified output', async (t) => {
    for (const path of ['$export', 'Patient/$export', `Group/${groupId()}/$export`]) {
      t.equal((await kick(base, path, DEID_ONLY)).res.status, 403, `${path} without _deidentify`);
    }
    const post = await fhir(
      base,
      'POST',
      '$export',
      { resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }] },
      { ...DEID_ONLY, ...ASYNC },
    );
    t.equal(post.status, 403, 'POST without _deidentify');
    // Another client's identified export: neither its status nor its files.
    const identified = await kick(base, '$export?_type=Patient', SERVICE);
    t.equal(identified.res.status, 202);
    const manifest = await finished(base, identified.status, SERVICE);
    t.ok(manifest.output.length > 0, 'the identified export has files');
    const status = await fhir(base, 'GET', identified.status, undefined, DEID_ONLY);
    t.equal(status.status, 404, 'its status is not found for another client');
    for (const file of manifest.output) {
      const res = await fhir(base, 'GET', file.url.slice(base.length + 1), undefined, DEID_ONLY);
      t.not(res.status, 200, 'nor its files');
      t.notOk(res.text.includes(SSN_SYSTEM), 'nothing of it in the answer');
    }
  });

  await t.test('the output: none of the identifying values, still joined, valid', async (t) => {
    const { res, status } = await kick(base, '$export?_deidentify=safe-harbor', DEID_ONLY);
    t.equal(res.status, 202);
    const manifest = await finished(base, status, DEID_ONLY);
    t.equal(manifest.deidentification?.method, 'safe-harbor', 'the status names the method');
    t.ok(
      manifest.deidentification?.removed.some((c) => /identifiers/.test(c)),
      'and what it removed',
    );
    const output = await download(base, manifest, DEID_ONLY);
    const types = new Set(output.map((r) => r.resourceType));
    for (const type of ['Patient', 'Encounter', 'Observation', 'DocumentReference', 'Condition']) {
      t.ok(types.has(type), `${type} exported`);
    }
    t.notOk(types.has('Binary'), 'no Binary');

    // What the store holds, identified: the same export without _deidentify by a service.
    const identified = await kick(base, '$export', SERVICE);
    const stored = await download(base, await finished(base, identified.status, SERVICE), SERVICE);
    t.equal(
      output.length,
      stored.filter((r) => r.resourceType !== 'Binary').length,
      'every resource but Binary is exported',
    );
    const values = identifyingValues([...population, ...stored]);
    const kinds = new Set(values.values());
    for (const kind of ['id', 'name', 'identifier', 'telecom', 'street', 'city', 'description']) {
      t.ok(kinds.has(kind), `scanning for ${kind} values`);
    }
    t.ok(
      population.some((r) => JSON.stringify(r).includes(SSN_SYSTEM)),
      'the population has SSNs',
    );
    t.same(leaks(values, output), [], 'no identifying value in any byte of any file');
    const bytes = output.map((r) => JSON.stringify(r)).join('\n');
    const days = [...bytes.matchAll(/\d{4}-\d{2}-\d{2}[^"]*/g)].map((m) => m[0]);
    t.same(
      days.filter((d) => !/^\d{4}-01-01T00:00:00Z$/.test(d)),
      [],
      'no exact date (instants are YYYY-01-01T00:00:00Z)',
    );

    const ids = new Set(output.map((r) => `${r.resourceType}/${r.id}`));
    const dangling: string[] = [];
    visit(output, (node) => {
      if (typeof node.reference === 'string' && !ids.has(node.reference)) {
        dangling.push(node.reference);
      }
    });
    t.same(dangling, [], 'every reference is a pseudonymous id of the export');
    const encounter = output.find((r) => r.resourceType === 'Encounter') as Json;
    t.ok(
      output.some(
        (r) => r.resourceType === 'Patient' && encounter.subject.reference === `Patient/${r.id}`,
      ),
      "an Encounter's subject is one of the exported Patients",
    );

    // A second export: stable within one, a different key per export.
    const again = await kick(base, '$export?_deidentify=safe-harbor&_type=Patient', DEID_ONLY);
    const second = await download(base, await finished(base, again.status, DEID_ONLY), DEID_ONLY);
    const first = new Set(output.filter((r) => r.resourceType === 'Patient').map((r) => r.id));
    t.equal(second.length, first.size);
    t.notOk(
      second.some((r) => first.has(r.id)),
      'two exports cannot be joined on their pseudonyms',
    );
  });

  function groupId(): string {
    return population.find((r: Resource) => r.resourceType === 'Group')!.id!;
  }
});
