/**
 * $everything over a seeded population (src/seed/): for a patient, exactly the served
 * resources whose compartment links name them, whatever types are served. Membership is
 * checked against the audit trail's own reading of the compartment (src/audit/patients.ts),
 * so a type the server starts serving is held to the same rule with no change here.
 */
import type { Resource } from 'fhir/r4.js';
import t from 'tap';
import { patientsOf } from '../../src/audit/patients.js';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import { generatePopulation } from '../../src/seed/generate.js';
import { fhir, startTestServer } from '../helpers.js';
import { keys, TOKENS, type Json } from './everything-helpers.js';

t.test(
  "a seeded patient's $everything is their whole compartment, of every served type",
  async (t) => {
    const { base } = await startTestServer(t);
    const population = generatePopulation({
      seed: 'everything',
      patients: 2,
      anchor: new Date('2026-01-05T00:00:00Z'),
    });
    const served = population.filter((r) => RESOURCE_TYPES.has(r.resourceType));
    // As stored: the server stamps what it decides at write time (a Provenance's patients).
    const stored: Resource[] = [];
    for (const resource of served) {
      const res = await fhir(base, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
      if (res.status >= 300)
        throw new Error(`${resource.resourceType}/${resource.id}: ${res.text}`);
      stored.push(res.body as Resource);
    }
    const patient = served.find((r) => r.resourceType === 'Patient')!;
    const expected = stored
      // A Group names its members for the audit trail but is in no patient's compartment.
      .filter((r: Resource) => !['AuditEvent', 'Binary', 'Group'].includes(r.resourceType))
      .filter((r) => patientsOf(r, base).includes(`Patient/${patient.id}`))
      .map((r) => `${r.resourceType}/${r.id}`)
      .sort();
    t.ok(expected.length > 20, 'a record worth checking');
    const res = await fhir(base, 'GET', `Patient/${patient.id}/$everything?_count=1000`);
    t.equal(res.status, 200);
    const matches = res.body.entry.filter((e: Json) => e.search.mode === 'match');
    t.same(keys({ entry: matches }).sort(), expected);
    t.equal(keys({ entry: matches })[0], `Patient/${patient.id}`, 'the Patient first');
    const admin = await fhir(
      base,
      'GET',
      `Patient/${patient.id}/$everything?_count=1000`,
      undefined,
      TOKENS.admin,
    );
    t.same(keys(admin.body), keys(res.body), 'an ADMIN user sees the same');
  },
);
