import t from 'tap';
import { parseFhirUser, principalFrom } from '../../src/auth/claims.js';

t.test('a SMART patient token becomes a principal with patient, fhirUser and scopes', async (t) => {
  const principal = principalFrom({
    sub: 'u-1',
    client_id: 'app',
    scope: 'openid fhirUser patient/*.rs',
    patient: 'p1',
    fhirUser: 'Patient/p1',
    role: 'patient',
  });
  t.equal(principal.subject, 'u-1');
  t.equal(principal.clientId, 'app');
  t.equal(principal.patient, 'p1');
  t.same(principal.fhirUser, { type: 'Patient', id: 'p1' });
  t.same(principal.roles, ['PATIENT']);
  t.same(principal.scopes.other, ['openid', 'fhirUser']);
  t.equal(principal.scopes.resources[0]?.raw, 'patient/*.rs');
});

t.test('roles come from role and cognito:groups, any case, unknown ones dropped', async (t) => {
  t.same(principalFrom({ role: 'Provider' }).roles, ['PROVIDER']);
  t.same(principalFrom({ role: ['nurse', 'guardian'] }).roles, ['NURSE', 'GUARDIAN']);
  t.same(principalFrom({ 'cognito:groups': ['Staff', 'everyone', 'us-east-1_x_Google'] }).roles, [
    'STAFF',
  ]);
  t.same(principalFrom({ role: 'admin', 'cognito:groups': ['ADMIN', 'receptionist'] }).roles, [
    'ADMIN',
    'RECEPTIONIST',
  ]);
  t.same(principalFrom({}).roles, []);
  t.same(principalFrom({ role: 42 as unknown as string }).roles, [], 'wrong type is absent');
});

t.test('fhirUser may be relative, absolute, or versioned', async (t) => {
  t.same(parseFhirUser('Practitioner/dr-1'), { type: 'Practitioner', id: 'dr-1' });
  t.same(parseFhirUser('https://fhir.example.org/fhir/RelatedPerson/rp.2'), {
    type: 'RelatedPerson',
    id: 'rp.2',
  });
  t.same(parseFhirUser('https://x/fhir/Patient/p1/_history/3'), { type: 'Patient', id: 'p1' });
  for (const bad of ['', 'Patient', 'Patient/', 'patient/p1', 'Patient/a b', 42, undefined]) {
    t.equal(parseFhirUser(bad), undefined, String(bad));
  }
});

t.test('a patient claim that is not a FHIR id is absent', async (t) => {
  t.equal(principalFrom({ patient: 'a/b' }).patient, undefined);
  t.equal(principalFrom({ patient: '' }).patient, undefined);
  t.equal(principalFrom({ patient: 7 as unknown as string }).patient, undefined);
});

t.test('the patient claim is not inferred from fhirUser', async (t) => {
  t.equal(principalFrom({ fhirUser: 'Patient/p1' }).patient, undefined);
});

t.test('a client-credentials token is identified by its client_id', async (t) => {
  const principal = principalFrom({ client_id: 'backend', scope: 'system/*.rs' });
  t.equal(principal.subject, 'backend');
  t.equal(principal.clientId, 'backend');
  t.same(principal.roles, []);
  t.equal(principalFrom({}).subject, '');
});

t.test('a scope claim sent as an array means the same scopes', async (t) => {
  const principal = principalFrom({ scope: ['openid', 'user/*.rs'] as unknown as string });
  t.same(principal.scopes.other, ['openid']);
  t.equal(principal.scopes.resources.length, 1);
});

t.test('a role claim with no telefhir role takes the system/ scopes away', async (t) => {
  const backend = principalFrom({ sub: 'svc', scope: 'system/*.cruds' });
  t.same(backend.roles, []);
  t.equal(backend.scopes.resources.length, 1, 'no role claim at all: a backend service');
  for (const claims of [
    { role: 'JANITOR' },
    { role: ['janitor', 'visitor'] },
    { role: '' },
    { role: 42 as unknown as string },
    { 'cognito:groups': ['everyone'] },
  ]) {
    const principal = principalFrom({ sub: 'u', scope: 'system/*.cruds user/*.rs', ...claims });
    t.same(principal.roles, [], JSON.stringify(claims));
    t.same(
      principal.scopes.resources.map((scope) => scope.raw),
      ['user/*.rs'],
      `${JSON.stringify(claims)}: only the user/ scope is left, and no role grants it`,
    );
    t.ok(principal.scopes.ignored.includes('system/*.cruds'), 'listed as ignored');
  }
  const admin = principalFrom({ scope: 'system/*.cruds', role: ['janitor', 'admin'] });
  t.same(admin.roles, ['ADMIN']);
  t.equal(admin.scopes.resources.length, 1, 'a recognised role keeps its system/ scope');
});
