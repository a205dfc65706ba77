/**
 * A system/ scope without a role is a backend service's. A token whose role claim names no
 * telefhir role came through a user's login with a role we don't know: it must get nothing,
 * not a backend service's full access.
 */
import t from 'tap';
import { patient } from '../fixtures.js';
import { fhir, startTestServer, testToken } from '../helpers.js';

t.test('an unknown role with a system/ scope gets no access', async (t) => {
  const { base } = await startTestServer(t);
  t.equal((await fhir(base, 'PUT', 'Patient/p1', { ...patient(), id: 'p1' })).status, 201);
  for (const claims of [{ role: 'JANITOR' }, { 'cognito:groups': ['everyone'] }, { role: '' }]) {
    const as = { authorization: `Bearer ${testToken({ scope: 'system/*.*', ...claims })}` };
    const what = JSON.stringify(claims);
    t.equal((await fhir(base, 'GET', 'Patient/p1', undefined, as)).status, 403, `${what}: read`);
    t.equal((await fhir(base, 'GET', 'Patient', undefined, as)).status, 403, `${what}: search`);
    t.equal((await fhir(base, 'DELETE', 'Patient/p1', undefined, as)).status, 403, what);
    const audit = await fhir(base, 'GET', 'AuditEvent', undefined, as);
    t.equal(audit.status, 403, `${what}: AuditEvent`);
    const book = await fhir(
      base,
      'POST',
      'Appointment/$book',
      { resourceType: 'Parameters', parameter: [] },
      as,
    );
    t.ok(book.status === 403 || book.status === 400, `${what}: $book refused (${book.status})`);
  }
  t.equal((await fhir(base, 'GET', 'Patient/p1')).status, 200, 'no role claim: a backend service');
});
