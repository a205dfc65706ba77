import type { Patient } from 'fhir/r4.js';
import t from 'tap';
import { createValidator } from '../../src/validation/index.js';

// A schema fault (an unknown element) and an R4 invariant (pat-1: a contact needs details).
const patient = {
  resourceType: 'Patient',
  colour: 'blue',
  contact: [{ gender: 'male' }],
} as unknown as Patient;

t.test('the R4 layers, built on first use, both run', async (t) => {
  const { validator } = createValidator({ defaultProfiles: false });
  for (const round of ['first use', 'built']) {
    const found = validator.validate(patient);
    t.ok(
      found.some((issue) => issue.expression.includes('colour')),
      `the structure layer ran (${round})`,
    );
    t.ok(
      found.some((issue) => issue.code === 'invariant' && issue.diagnostics.includes('pat-1')),
      `the invariant layer ran (${round})`,
    );
  }
});
