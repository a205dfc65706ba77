/**
 * Input that used to crash a layer below the HTTP one (a 500) is refused where it enters, as a
 * 4xx OperationOutcome, and nothing of it is stored.
 */
import t, { type Test } from 'tap';
import { send } from '../fuzz/fuzz.js';
import { fhir, startTestServer, testToken } from '../helpers.js';

type Response = Awaited<ReturnType<typeof fhir>>;

function refused(t: Test, res: Response, what: string, status = 400) {
  t.equal(res.status, status, what);
  t.equal(res.body?.resourceType, 'OperationOutcome', `${what}: an OperationOutcome`);
}

async function patientCount(base: string): Promise<number> {
  const res = await fhir(base, 'GET', 'Patient?_summary=count');
  return res.body.total;
}

/** `{"resourceType":"Patient","name":[[[...]]]}`, `depth` arrays deep. */
const deepPatient = (depth: number) =>
  `{"resourceType":"Patient","name":${'['.repeat(depth)}${']'.repeat(depth)}}`;

t.test('a JSON body nested thousands of levels deep is a 400, not a stack overflow', async (t) => {
  const { base } = await startTestServer(t);
  refused(t, await fhir(base, 'POST', 'Patient', deepPatient(20_000)), 'create');
  refused(t, await fhir(base, 'PUT', 'Patient/deep', deepPatient(20_000)), 'update');
  refused(t, await fhir(base, 'POST', 'Patient', deepPatient(150)), 'past the limit');
  const nestedObjects = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
  refused(t, await fhir(base, 'POST', 'Patient', nestedObjects), 'nested objects');
  const entry = `{"resource":${deepPatient(20_000)},"request":{"method":"POST","url":"Patient"}}`;
  for (const type of ['batch', 'transaction']) {
    const bundle = `{"resourceType":"Bundle","type":"${type}","entry":[${entry}]}`;
    refused(t, await fhir(base, 'POST', '', bundle), type);
  }
  const parameters = `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":${deepPatient(20_000)}}]}`;
  refused(t, await fhir(base, 'POST', 'Patient/$validate', parameters), '$validate');
  refused(t, await fhir(base, 'POST', 'Appointment/$book', parameters), '$book');
  t.equal(await patientCount(base), 0, 'nothing stored');
});

t.test('ordinary nesting and brackets inside strings are not mistaken for depth', async (t) => {
  const { base } = await startTestServer(t);
  const text = '[[[[{{{{'.repeat(100);
  const res = await fhir(base, 'POST', 'Patient', {
    resourceType: 'Patient',
    name: [{ family: text, given: ['"\\[{'] }],
    contact: [{ name: { family: 'x', extension: [{ url: 'http://e.x', valueString: 'y' }] } }],
  });
  t.equal(res.status, 201);
  t.equal(res.body.name[0].family, text);
  t.equal(res.body.name[0].given[0], '"\\[{');
});

t.test('a control character in a JSON string is a 400; tab, CR and LF are allowed', async (t) => {
  const { base } = await startTestServer(t);
  for (const escape of ['\\u0000', '\\u0001', '\\u001f', '\\b', '\\f', '\\u000B']) {
    const body = `{"resourceType":"Patient","name":[{"family":"a${escape}b"}]}`;
    refused(t, await fhir(base, 'POST', 'Patient', body), `family with ${escape}`);
  }
  const inKey = `{"resourceType":"Patient","a\\u0000":1}`;
  refused(t, await fhir(base, 'POST', 'Patient', inKey), 'in a property name');
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        resource: { resourceType: 'Patient', name: [{ family: 'a\u0000b' }] },
        request: { method: 'POST', url: 'Patient' },
      },
    ],
  };
  refused(t, await fhir(base, 'POST', '', bundle), 'in a transaction entry');
  t.equal(await patientCount(base), 0, 'nothing stored');
  const escapedBackslash = `{"resourceType":"Patient","name":[{"family":"a\\\\u0000b\\tc\\r\\nd"}]}`;
  const ok = await fhir(base, 'POST', 'Patient', escapedBackslash);
  t.equal(ok.status, 201, 'a literal backslash-u and tab, CR, LF are fine');
  t.equal(ok.body.name[0].family, 'a\\u0000b\tc\r\nd');
});

t.test('a NUL or control character in a search value is a 400', async (t) => {
  const { base } = await startTestServer(t);
  for (const query of [
    'gender=%00',
    'name=a%00b',
    '_id=%00',
    'identifier=a%7C%00',
    'name=a%01b',
    'name%00=a',
    'general-practitioner:Practitioner.name=%00',
    '_has:Observation:patient:code=%00',
    '_sort=%00',
    '_include=%00',
    '_elements=%00',
  ]) {
    refused(t, await fhir(base, 'GET', `Patient?${query}`), query);
  }
  const form = await fhir(base, 'POST', 'Patient/_search', 'name=a%00b', {
    'content-type': 'application/x-www-form-urlencoded',
  });
  refused(t, form, 'POST _search');
  const patient = { resourceType: 'Patient', name: [{ family: 'Nul' }] };
  refused(
    t,
    await fhir(base, 'POST', 'Patient', patient, { 'if-none-exist': 'name=a%00b' }),
    'If-None-Exist',
  );
  refused(t, await fhir(base, 'PUT', 'Patient?name=a%00', patient), 'conditional update');
  refused(t, await fhir(base, 'DELETE', 'Patient?name=%00'), 'conditional delete');
  t.equal(await patientCount(base), 0, 'nothing stored');
});

t.test(
  'a path the router refuses is an OperationOutcome that does not echo the path',
  async (t) => {
    const { base } = await startTestServer(t);
    const auth = { authorization: `Bearer ${testToken()}` };
    for (const [path, status] of [
      [`Patient/${'x'.repeat(250)}`, 414],
      ['Patient/%ff%fe', 400],
      ['Patient/%c0%af/_history', 400],
    ] as const) {
      for (const headers of [auth, {}]) {
        const res = await send(base, 'GET', path, headers);
        t.equal(res.status, status, path);
        t.equal(JSON.parse(res.text).resourceType, 'OperationOutcome', `${path}: an outcome`);
        t.notMatch(res.text, /xxxxxxxxxx|%ff|%c0/i, `${path}: not echoed`);
      }
    }
  },
);

t.test("an operation's instance id is checked before it reaches SQL", async (t) => {
  const { base } = await startTestServer(t);
  const parameters = { resourceType: 'Parameters', parameter: [] };
  for (const path of [
    'Appointment/%00/$cancel',
    'Appointment/a%00b/$start-visit',
    'Encounter/%00/$end-visit',
    'Patient/%00/$expunge',
    `Appointment/${'x'.repeat(65)}/$cancel`,
  ]) {
    refused(t, await fhir(base, 'POST', path, parameters), path);
  }
});

t.test('a lone UTF-16 surrogate escape is a 400; a surrogate pair is a character', async (t) => {
  const { base } = await startTestServer(t);
  for (const escape of ['\\ud800', '\\udc00', '\\ud800x', '\\ud800\\u0041', '\\udc00\\ud800']) {
    const body = `{"resourceType":"Patient","name":[{"family":"a${escape}b"}]}`;
    refused(t, await fhir(base, 'POST', 'Patient', body), `family with ${escape}`);
  }
  t.equal(await patientCount(base), 0, 'nothing stored');
  const pair = `{"resourceType":"Patient","name":[{"family":"a\\ud83d\\ude00b"}]}`;
  const ok = await fhir(base, 'POST', 'Patient', pair);
  t.equal(ok.status, 201, 'an escaped surrogate pair is fine');
  t.equal(ok.body.name[0].family, 'a\u{1f600}b');
});

t.test('ap dates at the ends of the calendar are searched, not a 500', async (t) => {
  const { base } = await startTestServer(t);
  for (const query of [
    'Patient?_lastUpdated=ap0001-01-01',
    'Patient?birthdate=ap9999',
    'Observation?date=ap9999-12-31',
    'Observation?date=ap0001',
  ]) {
    const res = await fhir(base, 'GET', query);
    t.equal(res.status, 200, query);
    t.equal(res.body.resourceType, 'Bundle');
  }
});
