/**
 * The R4 schema's functions as the build writes them (dist/r4-validators.cjs, ajv's standalone
 * code) answer exactly as the functions compiled in process: the same issues for every official
 * example of the served types and for broken resources, nested ones included. A module made
 * from another schema (or a damaged one) is not used.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { moduleDigest } from '../../src/validation/schema-code.js';
import {
  createStructureValidator,
  structureModuleIsCurrent,
  writeStructureModule,
} from '../../src/validation/structure.js';
import { officialExamples, TELEHEALTH_TYPES } from './r4-examples.js';

const dir = mkdtempSync(join(tmpdir(), 'telefhir-schema-module-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'r4-validators.cjs');
writeStructureModule(path);

const compiled = createStructureValidator({ modulePath: join(dir, 'none.cjs') });
const loaded = createStructureValidator({ modulePath: path });

const BROKEN: unknown[] = [
  { resourceType: 'Patient', foo: 'bar', gender: 'robot', birthDate: '1990-13-45' },
  { resourceType: 'Patient', active: 'yes', name: [{ given: [1] }] },
  {
    resourceType: 'Patient',
    contained: [{ resourceType: 'Observation', status: 'nope' }, { resourceType: 'Nope' }],
  },
  {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{ resource: { resourceType: 'Patient', birthDate: 'x' } }, { resource: 5 }],
  },
  {
    resourceType: 'Parameters',
    parameter: [{ name: 'p', resource: { resourceType: 'Encounter', class: 'VR' } }],
  },
  { resourceType: 'Binary', contentType: 'text/plain', data: 'not base64 !' },
  {
    resourceType: 'DocumentReference',
    status: 'current',
    content: [{ attachment: { data: '%%' } }],
  },
  { resourceType: 'Observation', status: 'final', code: {}, valueQuantity: { value: '1' } },
  { resourceType: 'Nope' },
  { notAResource: true },
];

t.test('the module answers as the compiled functions, example by example', async (t) => {
  let compared = 0;
  for (const [, examples] of officialExamples(TELEHEALTH_TYPES)) {
    for (const { file, resource } of examples) {
      t.same(loaded(resource), compiled(resource), file);
      compared++;
    }
  }
  for (const resource of BROKEN) {
    const issues = compiled(resource);
    t.ok(issues.length > 0, `broken: ${JSON.stringify(resource).slice(0, 60)}`);
    t.same(loaded(resource), issues, 'the same issues');
  }
  t.ok(compared > 100, `${compared} examples compared`);
});

t.test('a module made from another schema, or damaged, is not used', async (t) => {
  t.ok(structureModuleIsCurrent(path), 'the written module is current');
  const text = readFileSync(path, 'utf8');
  const stale = join(dir, 'stale.cjs');
  writeFileSync(stale, text.replace(moduleDigest(path)!, '0'.repeat(64)));
  t.notOk(structureModuleIsCurrent(stale));
  // A stale module that would accept anything: not loaded, so the checks still run.
  writeFileSync(stale, `// ${'0'.repeat(64)}\nexports.Patient = () => true;`);
  const fallback = createStructureValidator({ modulePath: stale });
  t.ok(fallback({ resourceType: 'Patient', foo: 1 }).length > 0, 'compiled instead');
  const damaged = join(dir, 'damaged.cjs');
  writeFileSync(damaged, 'not a module');
  t.notOk(structureModuleIsCurrent(damaged));
  t.ok(
    createStructureValidator({ modulePath: damaged })({ resourceType: 'Patient', foo: 1 }).length,
  );
});
