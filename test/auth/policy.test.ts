import t from 'tap';
import { principalFrom, type TokenClaims } from '../../src/auth/claims.js';
import { buildPolicy } from '../../src/auth/policy.js';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import {
  ACCESSES,
  CLINICAL,
  DIRECTORY,
  ALL,
  patients,
  linked,
  policyFor,
  letters,
  where,
  provider,
} from './policy-helpers.js';

t.test('no resource scopes: nothing, whatever the role', async (t) => {
  const policy = policyFor({ role: 'ADMIN', scope: 'openid fhirUser' });
  for (const type of RESOURCE_TYPES.keys()) t.equal(letters(policy, type), '', type);
  t.same(policy.readableTypes(), []);
});

t.test('user/ and patient/ scopes without a role grant nothing', async (t) => {
  const policy = policyFor({ scope: 'user/*.* patient/*.*', patient: 'p1' });
  for (const type of RESOURCE_TYPES.keys()) t.equal(letters(policy, type), '', type);
});

t.test('system/ scopes without a role: full access to the scoped types', async (t) => {
  const policy = policyFor({
    client_id: 'backend',
    scope: 'system/Observation.rs system/Patient.*',
  });
  t.equal(letters(policy, 'Observation'), 'rs');
  t.equal(letters(policy, 'Patient'), 'cruds');
  t.equal(letters(policy, 'Encounter'), '');
  t.same(where(policy, 'Patient', 'delete'), ALL);
  const all = policyFor({ scope: 'system/*.*' });
  for (const type of CLINICAL.concat(DIRECTORY)) t.equal(letters(all, type), 'cruds', type);
});

t.test('system/ scopes in a token with a role are limited by the role', async (t) => {
  const policy = policyFor({ role: 'RECEPTIONIST', scope: 'system/*.*' });
  t.equal(letters(policy, 'Observation'), '');
  t.equal(letters(policy, 'Appointment'), 'cruds');
  t.equal(letters(policy, 'AuditEvent'), '');
});

t.test('v1 read is read+search and v1 write is create+update+delete', async (t) => {
  t.equal(
    letters(policyFor({ role: 'ADMIN', scope: 'user/Observation.read' }), 'Observation'),
    'rs',
  );
  t.equal(
    letters(policyFor({ role: 'ADMIN', scope: 'user/Observation.write' }), 'Observation'),
    'cud',
  );
  t.equal(
    letters(policyFor({ role: 'ADMIN', scope: 'user/Observation.*' }), 'Observation'),
    'cruds',
  );
});

t.test('v2 letters grant exactly their interactions; wildcards reach every type', async (t) => {
  const policy = policyFor({ role: 'ADMIN', scope: 'user/Encounter.cu user/*.r' });
  t.equal(letters(policy, 'Encounter'), 'cru');
  t.equal(letters(policy, 'Organization'), 'r');
});

t.test('ADMIN with user/*.*: everything everywhere, AuditEvent read and search only', async (t) => {
  const policy = policyFor({ role: 'ADMIN', scope: 'user/*.*' });
  for (const type of CLINICAL.concat(DIRECTORY)) {
    t.equal(letters(policy, type), 'cruds', type);
    t.same(where(policy, type, 'update'), ALL);
  }
  t.equal(letters(policy, 'AuditEvent'), 'rs');
  t.same(policy.readableTypes(), [...RESOURCE_TYPES.keys()]);
});

t.test('patient/ scopes confine clinical types to the patient claim', async (t) => {
  const policy = policyFor({ role: 'ADMIN', scope: 'patient/*.*', patient: 'p1' });
  for (const type of CLINICAL) {
    t.equal(letters(policy, type), 'cruds', type);
    t.same(where(policy, type, 'read'), patients('p1'), type);
  }
});

t.test('patient/ scopes read directory types unrestricted, and never write them', async (t) => {
  const policy = policyFor({ role: 'ADMIN', scope: 'patient/*.*', patient: 'p1' });
  for (const type of DIRECTORY) {
    t.equal(letters(policy, type), 'rs', type);
    t.same(where(policy, type, 'search'), ALL, type);
  }
  const one = policyFor({ role: 'PATIENT', scope: 'patient/Practitioner.rs', patient: 'p1' });
  t.same(where(one, 'Practitioner', 'read'), ALL);
  t.equal(letters(one, 'Patient'), '');
});

t.test('patient/ scopes without a patient claim grant nothing', async (t) => {
  const policy = policyFor({ role: 'ADMIN', scope: 'patient/*.*' });
  for (const type of RESOURCE_TYPES.keys()) t.equal(letters(policy, type), '', type);
});

t.test('AuditEvent is never writable, whatever the scopes and role', async (t) => {
  const tokens: TokenClaims[] = [
    { scope: 'system/*.*' },
    { scope: 'system/AuditEvent.cruds' },
    { role: 'ADMIN', scope: 'user/*.* system/*.*' },
    { role: 'ADMIN', scope: 'patient/AuditEvent.*', patient: 'p1' },
  ];
  for (const claims of tokens) {
    const policy = policyFor(claims);
    for (const access of ['create', 'update', 'delete'] as const) {
      t.equal(policy.grant('AuditEvent', access), undefined, `${claims.scope} ${access}`);
    }
  }
});

t.test('AuditEvent is readable by ADMIN or system/ scopes only', async (t) => {
  t.same(where(policyFor({ scope: 'system/AuditEvent.rs' }), 'AuditEvent', 'search'), ALL);
  t.same(
    where(policyFor({ role: 'ADMIN', scope: 'user/AuditEvent.read' }), 'AuditEvent', 'read'),
    ALL,
  );
  for (const role of ['PROVIDER', 'NURSE', 'RECEPTIONIST', 'STAFF', 'PATIENT', 'GUARDIAN']) {
    const claims = {
      role,
      scope: 'user/AuditEvent.rs patient/AuditEvent.rs',
      patient: 'p1',
      fhirUser: 'Practitioner/x',
    };
    t.equal(letters(policyFor(claims, { providerScope: 'all' }), 'AuditEvent'), '', role);
  }
});

t.test('fine-grained filters are carried on the grant', async (t) => {
  const policy = policyFor({
    role: 'PATIENT',
    patient: 'p1',
    scope:
      'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
  });
  const grant = policy.grant('Observation', 'search')!;
  t.same(grant.compartments, patients('p1'));
  t.same(
    grant.filters.map((f) => f.get('category')),
    ['http://terminology.hl7.org/CodeSystem/observation-category|laboratory'],
  );
});

t.test('several filtered scopes on one type are ORed', async (t) => {
  const policy = policyFor({
    role: 'ADMIN',
    scope: 'user/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs',
  });
  t.same(policy.grant('Observation', 'read')!.filters.map(String), [
    'category=laboratory',
    'category=vital-signs',
  ]);
});

t.test('an unfiltered scope for the same access lifts the restriction', async (t) => {
  const policy = policyFor({
    role: 'ADMIN',
    scope: 'user/Observation.rs?category=laboratory user/Observation.r',
  });
  t.same(policy.grant('Observation', 'read')!.filters, [], 'read: the plain scope allows all');
  t.same(policy.grant('Observation', 'search')!.filters.map(String), ['category=laboratory']);
  t.same([...policy.grant('Observation', 'read')!.access], ['read']);
});

t.test('a filter applies only to the interactions of its own scope', async (t) => {
  const policy = policyFor({
    role: 'ADMIN',
    scope: 'user/Observation.rs?category=laboratory user/Observation.c',
  });
  t.same(policy.grant('Observation', 'create')!.filters, []);
  t.equal(policy.grant('Observation', 'read')!.filters.length, 1);
});

t.test('mixed compartments and filters are narrowed rather than widened', async (t) => {
  // "p1's everything, or anyone's vitals" has no exact flat form; flattening would be everything.
  const policy = policyFor({
    role: 'ADMIN',
    patient: 'p1',
    scope: 'patient/Observation.rs system/Observation.rs?category=vital-signs',
  });
  const grant = policy.grant('Observation', 'read')!;
  t.same(grant.compartments, patients('p1'));
  t.same(grant.filters, []);
  // "p1's labs, or anyone's vitals" keeps the first scope's compartment and filter.
  const filtered = policyFor({
    role: 'ADMIN',
    patient: 'p1',
    scope: 'patient/Observation.rs?category=laboratory user/Observation.rs?category=vital-signs',
  }).grant('Observation', 'read')!;
  t.same(filtered.compartments, patients('p1'));
  t.same(filtered.filters.map(String), ['category=laboratory']);
});

t.test('an exact union of compartments is kept whole', async (t) => {
  const policy = policyFor({
    role: 'PROVIDER',
    fhirUser: 'Practitioner/dr-1',
    patient: 'me',
    scope: 'user/Observation.rs?category=laboratory patient/Observation.rs?category=laboratory',
  });
  const grant = policy.grant('Observation', 'read')!;
  t.same(grant.compartments, [
    ...linked('dr-1'),
    { kind: 'patients', ids: ['me'], within: linked('dr-1')[0] },
  ]);
  t.same(grant.filters.map(String), ['category=laboratory']);
});

t.test('a grant lists every access that shares its compartments and filters', async (t) => {
  const policy = policyFor({ ...provider, scope: 'user/*.*' });
  t.same([...policy.grant('Encounter', 'delete')!.access], ACCESSES);
  t.equal(policy.grant('Encounter', 'read')!.type, 'Encounter');
});

t.test('readableTypes lists the served types with read or search', async (t) => {
  const policy = policyFor({ role: 'RECEPTIONIST', scope: 'user/*.rs user/Encounter.rs' });
  t.same(policy.readableTypes(), [
    'Patient',
    'Appointment',
    'Practitioner',
    'PractitionerRole',
    'Organization',
    'Schedule',
    'Slot',
    'Location',
    'Endpoint',
  ]);
  t.same(policyFor({ role: 'ADMIN', scope: 'user/Observation.s' }).readableTypes(), [
    'Observation',
  ]);
});

t.test('types we do not serve have no grant', async (t) => {
  const policy = policyFor({ scope: 'system/*.*' });
  t.equal(policy.grant('Composition', 'read'), undefined);
  t.equal(policy.grant('NotAType', 'read'), undefined);
});

t.test('changing a returned grant does not change the policy', async (t) => {
  const policy = policyFor({
    role: 'PATIENT',
    patient: 'p1',
    scope: 'patient/Observation.rs?category=laboratory',
  });
  const grant = policy.grant('Observation', 'read')!;
  grant.access.add('delete');
  (grant.compartments[0] as { ids: string[] }).ids.push('p2');
  grant.filters[0]!.delete('category');
  grant.compartments.push({ kind: 'all' });
  const again = policy.grant('Observation', 'read')!;
  t.same([...again.access].sort(), ['read', 'search']);
  t.same(again.compartments, patients('p1'));
  t.equal(again.filters[0]!.get('category'), 'laboratory');
});

t.test('the policy carries its principal', async (t) => {
  const principal = principalFrom({ sub: 's', role: 'ADMIN', scope: 'user/*.rs' });
  t.equal(buildPolicy(principal, { providerScope: 'assigned' }).principal, principal);
});

t.test('grants are shared by equal facts only, and never through a changed copy', async (t) => {
  const claims = { role: 'PATIENT', patient: 'p1', scope: 'patient/*.rs' };
  const first = policyFor({ ...claims, sub: 'a' });
  first.grant('Observation', 'read')!.compartments.push({ kind: 'all' });
  // Same facts (another subject): the same grants, unaffected by what the first caller did.
  t.same(where(policyFor({ ...claims, sub: 'b' }), 'Observation', 'read'), patients('p1'));
  // Each fact that shapes a grant tells tables apart.
  t.same(where(policyFor({ ...claims, patient: 'p2' }), 'Observation', 'read'), patients('p2'));
  // A fhirUser naming another patient than the launch: nothing in common, nothing granted.
  t.same(
    where(policyFor({ ...claims, patient: 'p2', fhirUser: 'Patient/p3' }), 'Observation', 'read'),
    undefined,
  );
  t.equal(letters(policyFor({ ...claims, scope: 'patient/*.r' }), 'Observation'), 'r');
  t.equal(letters(policyFor({ ...claims, role: 'ADMIN' }), 'Observation'), 'rs');
  t.equal(
    letters(policyFor({ ...claims, role: 'ADMIN', scope: 'patient/*.cruds' }), 'Observation'),
    'cruds',
  );
  const nurse = { role: 'NURSE', fhirUser: 'Practitioner/n1', scope: 'user/*.rs' };
  t.same(where(policyFor(nurse), 'Observation', 'read'), linked('n1'));
  t.same(where(policyFor(nurse, { providerScope: 'all' }), 'Observation', 'read'), ALL);
  t.same(where(policyFor(nurse, {}, 'emergency'), 'Observation', 'read'), ALL);
  t.same(where(policyFor(nurse), 'Observation', 'read'), linked('n1'), 'and back again');
});
