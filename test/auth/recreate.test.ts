/**
 * A restricted caller can't bring back a deleted resource id: that would put another patient's
 * old versions under its own compartment.
 */
import t from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';
import { encounter, patient, practitioner } from '../fixtures.js';

t.test('recreating a deleted id needs unrestricted access', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Practitioner/dr2', { ...practitioner(), id: 'dr2' });
  await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' });
  await fhir(base, 'PUT', 'Patient/p2', {
    ...patient(),
    id: 'p2',
    generalPractitioner: [{ reference: 'Practitioner/dr2' }],
  });
  await fhir(base, 'PUT', 'Encounter/e1', { ...encounter('Patient/p1'), id: 'e1' });
  t.equal((await fhir(base, 'DELETE', 'Encounter/e1')).status, 204);
  const nurse = {
    authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'NURSE', fhirUser: 'Practitioner/dr2' })}`,
  };
  const taken = await fhir(
    base,
    'PUT',
    'Encounter/e1',
    { ...encounter('Patient/p2'), id: 'e1' },
    nurse,
  );
  t.equal(taken.status, 403, taken.text);
  const old = await fhir(base, 'GET', 'Encounter/e1/_history/1', undefined, nurse);
  t.equal(old.status, 404, "p1's old version stays out of reach");
  t.notMatch(old.text, /Patient\/p1/);
  t.equal((await fhir(base, 'GET', 'Encounter/e1/_history')).body.total, 2, 'nothing was written');
  const fresh = await fhir(
    base,
    'PUT',
    'Encounter/e-new',
    { ...encounter('Patient/p2'), id: 'e-new' },
    nurse,
  );
  t.equal(fresh.status, 201, 'a new id is still fine');
  const admin = {
    authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/a' })}`,
  };
  t.equal(
    (await fhir(base, 'PUT', 'Encounter/e1', { ...encounter('Patient/p1'), id: 'e1' }, admin))
      .status,
    201,
    'an ADMIN may',
  );
});
