import type { AuditEvent } from 'fhir/r4.js';
import t from 'tap';
import { buildAuditEvent, type AuditInput } from '../../src/audit/event.js';
import { appendAudit } from '../../src/audit/writer.js';
import { parseSearch } from '../../src/search/parse.js';
import { AuditEventStore } from '../../src/store/postgres/audit-event-store.js';
import { createValidator } from '../../src/validation/index.js';
import { auditDatabase } from './audit-db.js';

const BASE = 'http://example.test/fhir';

const breakGlassSearch: AuditInput = {
  interaction: 'search',
  outcome: 'success',
  who: { reference: 'Practitioner/dr-1', display: 'Dr One' },
  subject: 'cognito-sub-1',
  clientId: 'telehealth-web',
  address: '203.0.113.9',
  requestId: 'req-42',
  entities: [{ reference: 'Observation/o-1' }, { reference: 'Patient/p-1' }],
  patient: 'Patient/p-1',
  purposeOfUse: { code: 'BTG', display: 'break the glass' },
  reason: 'unconscious patient in ER',
  query: 'family=Chalmers&birthdate=ge1970-01-01&identifier=urn:mrn|12345&_count=10',
  recorded: new Date('2024-05-01T10:00:00.000Z'),
};

t.test('a built AuditEvent is valid R4', async (t) => {
  const { validator } = createValidator({ defaultProfiles: false });
  const cases: AuditInput[] = [
    breakGlassSearch,
    {
      interaction: 'create',
      outcome: 'serious',
      who: {},
      subject: 'client-credentials-app',
      requestId: 'req-1',
      entities: [],
    },
  ];
  for (const input of cases) {
    const issues = validator.validate(buildAuditEvent(input));
    t.same(
      issues.filter((issue) => issue.severity === 'error'),
      [],
      `${input.interaction}: no errors`,
    );
  }
});

t.test('it follows the REST audit conventions: type, subtype, action, outcome', async (t) => {
  const event = buildAuditEvent(breakGlassSearch);
  t.same(event.type, {
    system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
    code: 'rest',
    display: 'RESTful Operation',
  });
  t.match(event.subtype, [
    { system: 'http://hl7.org/fhir/restful-interaction', code: 'search-type' },
  ]);
  t.equal(event.action, 'E');
  t.equal(event.outcome, '0');
  t.equal(event.recorded, '2024-05-01T10:00:00.000Z');
  const expected: [AuditInput['interaction'], string, string][] = [
    ['read', 'read', 'R'],
    ['vread', 'vread', 'R'],
    ['history', 'history-instance', 'R'],
    ['create', 'create', 'C'],
    ['update', 'update', 'U'],
    ['patch', 'patch', 'U'],
    ['delete', 'delete', 'D'],
    ['operation', 'operation', 'E'],
  ];
  for (const [interaction, code, action] of expected) {
    const built = buildAuditEvent({ ...breakGlassSearch, interaction, outcome: 'major' });
    t.equal(built.subtype![0]!.code, code, `${interaction} subtype`);
    t.equal(built.action, action, `${interaction} action`);
    t.equal(built.outcome, '12');
  }
});

t.test('the agent, break-glass purpose and entities say who, why and what', async (t) => {
  const event = buildAuditEvent(breakGlassSearch);
  const agent = event.agent[0]!;
  t.same(agent.who, { reference: 'Practitioner/dr-1', display: 'Dr One' });
  t.equal(agent.requestor, true);
  t.equal(agent.altId, 'telehealth-web');
  t.same(agent.network, { address: '203.0.113.9', type: '2' });
  const btg = {
    coding: [
      {
        system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
        code: 'BTG',
        display: 'break the glass',
      },
    ],
    text: 'unconscious patient in ER',
  };
  t.same(agent.purposeOfUse, [btg]);
  t.same(event.purposeOfEvent, [btg]);
  t.same(event.source.observer, { display: 'telefhir' });
  const entities = event.entity!;
  t.same(entities[0]!.detail, [{ type: 'request-id', valueString: 'req-42' }]);
  t.same(
    entities.filter((e) => e.what?.reference).map((e) => [e.what!.reference, e.role!.code]),
    [
      ['Observation/o-1', '4'],
      ['Patient/p-1', '1'],
    ],
    'each resource once; the patient in the patient role',
  );
  const noFhirUser = buildAuditEvent({ ...breakGlassSearch, who: {} });
  t.same(noFhirUser.agent[0]!.who, { identifier: { value: 'cognito-sub-1' } });
});

t.test('a search is recorded by parameter names, never values', async (t) => {
  const event = buildAuditEvent(breakGlassSearch);
  const query = event.entity!.find((e) => e.role?.code === '24')!;
  t.same(query.detail, [
    { type: 'search-parameters', valueString: 'family,birthdate,identifier,_count' },
  ]);
  const text = JSON.stringify(event);
  for (const value of ['Chalmers', '1970', '12345', 'urn:mrn']) {
    t.notOk(text.includes(value), `${value} is not stored`);
  }
  const odd = buildAuditEvent({ ...breakGlassSearch, query: '?name=x&1985-07-01&a%20b=c' });
  t.same(odd.entity!.find((e) => e.role?.code === '24')!.detail![0]!.valueString, 'name,(2 other)');
});

t.test('written AuditEvents are found by search, one row each', async (t) => {
  const db = await auditDatabase(t);
  const write = (input: AuditInput) =>
    db.transaction((tx) => appendAudit(tx, buildAuditEvent(input)));
  const btg = await write(breakGlassSearch);
  const other = await write({
    interaction: 'read',
    outcome: 'success',
    who: { reference: 'Patient/p-2' },
    subject: 'sub-2',
    requestId: 'req-43',
    entities: [{ reference: 'Patient/p-2' }],
    recorded: new Date('2025-01-01T00:00:00.000Z'),
  });
  const search = async (query: string) => {
    const parsed = parseSearch('AuditEvent', new URLSearchParams(query), {
      baseUrl: BASE,
      strict: true,
    });
    const result = await new AuditEventStore(db).search(parsed, {
      requestId: 't',
      access: 'unrestricted',
    });
    return result.matches.map((resource) => (resource as AuditEvent).id).sort();
  };
  t.same(await search('patient=Patient/p-1'), [btg.id]);
  t.same(await search('patient=p-2'), [other.id], 'agent who is a patient too');
  t.same(await search('agent=Practitioner/dr-1'), [btg.id]);
  t.same(await search('entity=Observation/o-1'), [btg.id]);
  t.same(await search('date=lt2024-12-31'), [btg.id]);
  t.same(await search('subtype=read'), [other.id]);
  t.same(await search('altid=telehealth-web'), [btg.id]);
  t.same(await search('address=203.0.113.9'), [btg.id]);
  t.same(await search('_id=' + other.id), [other.id]);
});
