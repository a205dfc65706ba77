import type { Patient } from 'fhir/r4.js';
import t from 'tap';
import { createValidator } from '../../src/validation/index.js';

// A schema fault (an unknown element) and an R4 invariant (pat-1: a contact needs details).
const patient = {
  resourceType: 'Patient',
  colour: 'blue',
  contact: [{ gender: 'male' }],
} as unknown as Patient;

t.test('the R4 layers give the same findings built on first use or by prepare()', async (t) => {
  const lazy = createValidator({ defaultProfiles: false }).validator;
  const prepared = createValidator({ defaultProfiles: false }).validator;
  await prepared.prepare();
  await prepared.prepare(); // idempotent
  const found = lazy.validate(patient);
  t.ok(
    found.some((issue) => issue.expression.includes('colour')),
    'the structure layer ran',
  );
  t.ok(
    found.some((issue) => issue.code === 'invariant' && issue.diagnostics.includes('pat-1')),
    'the invariant layer ran',
  );
  t.same(prepared.validate(patient), found);
});
