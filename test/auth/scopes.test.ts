import t from 'tap';
import { parseScopes, type ResourceScope } from '../../src/auth/scopes.js';

/** The one resource scope a string parses to, with its interactions as a c-r-u-d-s string. */
function only(scope: string): { context: string; type: string; letters: string; filter?: string } {
  const parsed = parseScopes(scope);
  if (parsed.resources.length !== 1) throw new Error(`${scope}: ${JSON.stringify(parsed)}`);
  return describe(parsed.resources[0]!);
}

function describe(scope: ResourceScope) {
  const letters = ['c', 'r', 'u', 'd', 's']
    .filter((l) => scope.interactions.has(l as 'c'))
    .join('');
  const described: { context: string; type: string; letters: string; filter?: string } = {
    context: scope.context,
    type: scope.type,
    letters,
  };
  if (scope.filter) described.filter = scope.filter.toString();
  return described;
}

t.test('v1 read means read and search', async (t) => {
  t.same(only('patient/Patient.read'), { context: 'patient', type: 'Patient', letters: 'rs' });
});

t.test('v1 write means create, update and delete', async (t) => {
  t.same(only('user/Observation.write'), { context: 'user', type: 'Observation', letters: 'cud' });
});

t.test('v1 * means every interaction', async (t) => {
  t.same(only('system/Encounter.*'), { context: 'system', type: 'Encounter', letters: 'cruds' });
});

t.test('v1 in every context', async (t) => {
  for (const context of ['patient', 'user', 'system']) {
    t.equal(only(`${context}/Appointment.read`).context, context);
  }
});

t.test('v2 permissions are the letters given, each interaction once', async (t) => {
  for (const letters of ['c', 'r', 'u', 'd', 's', 'rs', 'cu', 'cud', 'cruds', 'rus', 'crs']) {
    t.equal(only(`patient/Patient.${letters}`).letters, letters, letters);
  }
  t.same(only('user/Encounter.cruds'), { context: 'user', type: 'Encounter', letters: 'cruds' });
});

t.test('wildcard types: *.*, *.read, *.r', async (t) => {
  t.same(only('system/*.*'), { context: 'system', type: '*', letters: 'cruds' });
  t.same(only('user/*.write'), { context: 'user', type: '*', letters: 'cud' });
  t.same(only('system/*.r'), { context: 'system', type: '*', letters: 'r' });
  t.same(only('patient/*.rs'), { context: 'patient', type: '*', letters: 'rs' });
});

t.test('v2 fine-grained filter is kept as search params', async (t) => {
  const scope = parseScopes('patient/Observation.rs?category=laboratory').resources[0]!;
  t.equal(scope.filter?.get('category'), 'laboratory');
  t.equal(scope.raw, 'patient/Observation.rs?category=laboratory');
  t.same([...scope.interactions].sort(), ['r', 's']);
});

t.test('filter tokens keep system|code, written plainly or percent-encoded', async (t) => {
  const system = 'http://terminology.hl7.org/CodeSystem/observation-category';
  const plain = parseScopes(`patient/Observation.rs?category=${system}|laboratory`);
  t.equal(plain.resources[0]?.filter?.get('category'), `${system}|laboratory`);
  const encoded = parseScopes(
    'patient/Observation.rs?category=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fobservation-category%7Claboratory',
  );
  t.equal(encoded.resources[0]?.filter?.get('category'), `${system}|laboratory`);
});

t.test('filters may name several params and repeat one', async (t) => {
  const filter = parseScopes(
    'user/Observation.rs?category=vital-signs&code=http://loinc.org|8867-4&code:not=x',
  ).resources[0]!.filter!;
  t.same(
    [...filter],
    [
      ['category', 'vital-signs'],
      ['code', 'http://loinc.org|8867-4'],
      ['code:not', 'x'],
    ],
  );
  const repeated = parseScopes('user/Observation.s?category=a&category=b').resources[0]!.filter!;
  t.same(repeated.getAll('category'), ['a', 'b']);
});

t.test('filters on write permissions are kept too', async (t) => {
  t.same(only('user/Observation.cu?category=vital-signs'), {
    context: 'user',
    type: 'Observation',
    letters: 'cu',
    filter: 'category=vital-signs',
  });
});

t.test('non-resource scopes are listed as other and grant nothing', async (t) => {
  const scopes =
    'openid fhirUser profile launch launch/patient launch/encounter offline_access online_access';
  const parsed = parseScopes(scopes);
  t.same(parsed.resources, []);
  t.same(parsed.ignored, []);
  t.same(parsed.other, scopes.split(' '));
});

t.test('malformed resource scopes are ignored, listed, and do not stop the rest', async (t) => {
  const malformed = [
    'patient/Observation', // no permission
    'patient/Observation.', // empty permission
    'patient/.read', // no type
    'patient/observation.read', // not a type name
    'patient/Observation.READ', // permissions are lower case
    'patient/Observation.sr', // v2 out of order
    'patient/Observation.rr', // v2 repeated
    'patient/Observation.rx', // not a permission
    'patient/Observation.read.write',
    'patient/Observation.read?category=laboratory', // v1 has no filters
    'patient/Observation.rs?', // empty filter
    'patient/Observation.rs?category', // no value
    'patient/Observation.rs?category=', // empty value
    'patient/Observation.rs?=laboratory', // no name
    'patient/Observation.rs?_count=1', // shapes the result, restricts nothing
    'patient/Observation.rs?_include=Observation:subject',
    'patient/Obs-ervation.rs',
    'patient/*.', // wildcard without permission
  ];
  const parsed = parseScopes(['openid', ...malformed, 'patient/Patient.rs'].join(' '));
  t.same(parsed.ignored, malformed);
  t.same(
    parsed.resources.map((s) => s.raw),
    ['patient/Patient.rs'],
  );
  t.same(parsed.other, ['openid']);
});

t.test('anything not under patient/, user/ or system/ is other, not ignored', async (t) => {
  const parsed = parseScopes('email aws.cognito.signin.user.admin Patient.read');
  t.same(parsed.other, ['email', 'aws.cognito.signin.user.admin', 'Patient.read']);
  t.same(parsed.ignored, []);
});

t.test('an absent or empty scope claim grants nothing', async (t) => {
  for (const scope of [undefined, '', '   ']) {
    t.same(parseScopes(scope), { resources: [], other: [], ignored: [] });
  }
});

t.test('scopes are split on any whitespace, and v1 and v2 mix in one claim', async (t) => {
  const parsed = parseScopes('  patient/Patient.read\tuser/Encounter.cruds\n system/*.r  ');
  t.same(
    parsed.resources.map((s) => s.raw),
    ['patient/Patient.read', 'user/Encounter.cruds', 'system/*.r'],
  );
});

t.test('repeated non-resource and ignored scopes are listed once', async (t) => {
  const parsed = parseScopes('openid openid patient/X.zz patient/X.zz');
  t.same(parsed.other, ['openid']);
  t.same(parsed.ignored, ['patient/X.zz']);
});

t.test('a wildcard type may carry a filter (e.g. _security) for every type', async (t) => {
  t.same(only('user/*.rs?_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N'), {
    context: 'user',
    type: '*',
    letters: 'rs',
    filter: '_security=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fv3-Confidentiality%7CN',
  });
});
