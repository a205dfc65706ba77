/**
 * DocumentReference/$docref (US Core 5.0.1) over HTTP, on the configured store and on
 * HealthLake: first what it must refuse, then what it answers.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { loadOperation } from '../../src/fhir/operation-parameters.js';
import { createValidator } from '../../src/validation/index.js';
import { fhir, startServer, startTestServer, testConfig } from '../helpers.js';
import { backWithHealthLake } from '../healthlake/harness.js';
import { keys, nextOf, relative, seedWorld, TOKENS, type Json } from './everything-helpers.js';

const docref = (base: string, headers: Record<string, string>, query: string) =>
  fhir(base, 'GET', `DocumentReference/$docref?${query}`, undefined, headers);

async function world(t: Parameters<typeof startTestServer>[0]) {
  const running = await startTestServer(t);
  await seedWorld(running.base);
  return running;
}

t.test('security: another patient, outsiders, narrower scopes, foreign cursors', async (t) => {
  const { base } = await world(t);

  await t.test("a patient's token asking for another patient's documents is 404", async (t) => {
    const res = await docref(base, TOKENS.p1, 'patient=p2');
    t.equal(res.status, 404);
    t.equal(res.body.resourceType, 'OperationOutcome');
    t.notMatch(res.text, /d4/);
    const post = await fhir(
      base,
      'POST',
      'DocumentReference/$docref',
      { resourceType: 'Parameters', parameter: [{ name: 'patient', valueId: 'p2' }] },
      TOKENS.p1,
    );
    t.equal(post.status, 404, 'by POST too');
  });

  await t.test('a PROVIDER outside the compartment is 404; inside, 200', async (t) => {
    t.equal((await docref(base, TOKENS.dr2, 'patient=p1')).status, 404);
    t.equal((await docref(base, TOKENS.dr1, 'patient=p2')).status, 404);
    const mine = await docref(base, TOKENS.dr1, 'patient=p1');
    t.equal(mine.status, 200);
    t.same(keys(mine.body), [
      'DocumentReference/d1',
      'DocumentReference/d2',
      'DocumentReference/d3',
    ]);
  });

  await t.test('a token without DocumentReference is 403, whatever else it holds', async (t) => {
    const res = await docref(base, TOKENS.p1Observations, 'patient=p1');
    t.equal(res.status, 403);
  });

  await t.test("a token with only DocumentReference gets its own patient's", async (t) => {
    const res = await docref(base, TOKENS.p1Documents, 'patient=p1');
    t.equal(res.status, 200);
    t.equal(res.body.entry.length, 3);
    t.equal((await docref(base, TOKENS.p1Documents, 'patient=p2')).status, 404);
  });

  await t.test('a forged cursor is 400', async (t) => {
    const first = await docref(base, TOKENS.p1, 'patient=p1');
    t.equal(first.status, 200);
    t.notOk(nextOf(first.body), 'one page holds three');
    const other = await fhir(
      base,
      'GET',
      `DocumentReference/$docref?patient=p1&_cursor=${'A'.repeat(40)}`,
      undefined,
      TOKENS.p1,
    );
    t.equal(other.status, 400, 'a forged cursor');
  });

  await t.test('parameters are checked', async (t) => {
    t.equal((await docref(base, TOKENS.admin, '')).status, 400, 'patient is required');
    t.equal((await docref(base, TOKENS.admin, 'patient=p1&patient=p2')).status, 400);
    t.equal((await docref(base, TOKENS.admin, 'patient=p1&start=last-week')).status, 400);
    t.equal((await docref(base, TOKENS.admin, 'patient=p1&color=red')).status, 400);
    t.equal((await docref(base, TOKENS.admin, 'patient=nobody')).status, 404);
  });
});

t.test('cursors of one caller are refused to another', async (t) => {
  const { base } = await world(t);
  for (let i = 0; i < 21; i++) {
    const res = await fhir(base, 'GET', 'DocumentReference/d1');
    await fhir(base, 'PUT', `DocumentReference/x${i}`, { ...res.body, id: `x${i}` });
  }
  const first = await docref(base, TOKENS.p1, 'patient=p1');
  const next = nextOf(first.body);
  t.ok(next, 'a second page');
  const path = relative(base, next!);
  const own = await fhir(base, 'GET', path, undefined, TOKENS.p1);
  t.equal(own.status, 200);
  t.equal(first.body.entry.length + own.body.entry.length, 24, 'every document once');
  t.equal((await fhir(base, 'GET', path, undefined, TOKENS.dr1)).status, 400, 'another caller');
  t.equal(
    (await fhir(base, 'GET', path, undefined, TOKENS.p1Documents)).status,
    400,
    'another app',
  );
  const widened = path.replace('patient=p1', 'patient=p1&type=http%3A%2F%2Floinc.org%7C11506-3');
  t.equal((await fhir(base, 'GET', widened, undefined, TOKENS.p1)).status, 400, 'other parameters');
});

t.test('the date range and the type select documents', async (t) => {
  const { base } = await world(t);
  const june = await docref(base, TOKENS.p1, 'patient=p1&start=2024-06-01&end=2024-06-30');
  t.equal(june.status, 200);
  t.equal(june.body.type, 'searchset');
  t.same(keys(june.body).sort(), ['DocumentReference/d2', 'DocumentReference/d3']);
  const upTo = await docref(base, TOKENS.p1, 'patient=p1&end=2024-02-01');
  t.same(keys(upTo.body), ['DocumentReference/d1']);
  const typed = await docref(
    base,
    TOKENS.p1,
    `patient=p1&type=${encodeURIComponent('http://loinc.org|11506-3')}`,
  );
  t.same(keys(typed.body), ['DocumentReference/d3']);
  const posted = await fhir(
    base,
    'POST',
    'DocumentReference/$docref',
    {
      resourceType: 'Parameters',
      parameter: [
        { name: 'patient', valueId: 'p1' },
        { name: 'start', valueDateTime: '2024-06-01' },
        { name: 'type', valueCoding: { system: 'http://loinc.org', code: '34133-9' } },
        { name: 'on-demand', valueBoolean: false },
      ],
    },
    TOKENS.p1,
  );
  t.equal(posted.status, 200);
  t.same(keys(posted.body), ['DocumentReference/d2']);
});

t.test('audited as a query, naming the patient', async (t) => {
  const { base } = await world(t);
  const requestId = randomUUID();
  await docref(base, { ...TOKENS.p1, 'x-request-id': requestId }, 'patient=p1');
  const events = (await fhir(base, 'GET', `AuditEvent?request-id=${requestId}`)).body.entry ?? [];
  t.equal(events.length, 1);
  const refs = events[0].resource.entity.map((e: Json) => e.what?.reference).filter(Boolean);
  t.ok(refs.includes('Patient/p1'));
  t.ok(refs.includes('DocumentReference/d1'));
});

t.test("listed under DocumentReference with US Core's canonical", async (t) => {
  const { base } = await startTestServer(t);
  const metadata = (await fhir(base, 'GET', 'metadata')).body;
  const type = metadata.rest[0].resource.find((r: Json) => r.type === 'DocumentReference');
  const op = type.operation.find((o: Json) => o.name === 'docref');
  t.equal(op?.definition, 'http://hl7.org/fhir/us/core/OperationDefinition/docref');
  const definition = await fhir(base, 'GET', 'OperationDefinition/docref');
  t.equal(definition.status, 200);
  t.equal(definition.body.url, op.definition);
  const { validator } = createValidator({ defaultProfiles: false });
  const errors = validator
    .validate(loadOperation('docref.json'))
    .filter((issue) => issue.severity === 'error');
  t.same(errors, [], 'a valid R4 OperationDefinition');
});

t.test('on HealthLake: the same documents, held to the same grant', async (t) => {
  const config = await testConfig(t);
  await backWithHealthLake(t, config);
  const { base } = await startServer(t, config);
  await seedWorld(base);
  const mine = await docref(base, TOKENS.p1, 'patient=p1&start=2024-06-01');
  t.equal(mine.status, 200);
  t.same(keys(mine.body).sort(), ['DocumentReference/d2', 'DocumentReference/d3']);
  t.equal((await docref(base, TOKENS.p1, 'patient=p2')).status, 404);
  t.equal((await docref(base, TOKENS.dr2, 'patient=p1')).status, 404);
  t.equal((await docref(base, TOKENS.dr1, 'patient=p1')).status, 200);
});
