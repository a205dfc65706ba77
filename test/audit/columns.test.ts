/**
 * The append sends each AuditEvent's searched columns as worked out in JavaScript
 * (src/audit/columns.ts) instead of deriving them in the database; they must be exactly what
 * the database's audit_event_index() derives from the stored JSON (which the migration used and
 * audit:verify recomputes), for every kind of event the server writes and for the awkward
 * values a FHIR AuditEvent can hold (full URLs, history references, codings without a system,
 * quotes, backslashes and braces in values, duplicates, non-ASCII).
 */
import type { AuditEvent } from 'fhir/r4.js';
import t from 'tap';
import { buildAuditEvent, type AuditInput, type AuditInteraction } from '../../src/audit/event.js';
import { verifyChain } from '../../src/audit/verify.js';
import { appendStoredAudits, storedAuditEvent } from '../../src/audit/writer.js';
import { auditDatabase, readEvent } from './audit-db.js';

const built = (interaction: AuditInteraction, extra: Partial<AuditInput>) =>
  buildAuditEvent({
    interaction,
    outcome: 'success',
    who: { reference: 'Practitioner/dr-1' },
    subject: 'user-1',
    requestId: `req-${interaction}`,
    entities: [],
    ...extra,
  });

const events = (): AuditEvent[] => [
  readEvent(1),
  readEvent(2, 'p-2'),
  built('search', {
    entities: [
      { reference: 'Patient/p-1', role: 'patient' },
      { reference: 'Patient/p-2', role: 'patient' },
      { reference: 'Patient/p-1', role: 'patient' },
    ],
    query: 'name=x&birthdate=y',
    clientId: 'client "one" \\ {a,b}',
    address: '2001:db8::1',
  }),
  built('create', {
    who: { display: 'no reference' },
    outcome: 'serious',
    entities: [{ reference: 'Observation/o-1', role: 'domain' }],
    patient: 'Patient/p-3',
    purposeOfUse: { code: 'BTG' },
    reason: 'emergency',
  }),
  built('operation', {
    who: { reference: 'https://ehr.example/fhir/Practitioner/dr-2' },
    entities: [
      { reference: 'https://ehr.example/fhir/Patient/p-4/_history/2' },
      { reference: '#contained' },
      { reference: 'Appointment/a.1-b' },
    ],
    purposeOfUse: { code: 'TREAT', system: 'http://example/purpose' },
  }),
  // Shapes the builder doesn't make but a FHIR AuditEvent may hold.
  {
    resourceType: 'AuditEvent',
    type: { code: 'no-system' },
    subtype: [{ system: 'http://only-system' }, { code: 'c' }, { code: 'c', system: 's' }, {}],
    action: 'E',
    recorded: '2026-01-02T03:04:05.678+02:00',
    outcome: '4',
    purposeOfEvent: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPAYMT' }],
      },
      { text: 'no coding' },
    ],
    agent: [
      {
        who: { reference: 'Patient/p-5' },
        requestor: true,
        altId: 'ålt "id"',
        network: { address: '10.0.0.1', type: '2' },
        purposeOfUse: [{ coding: [{ code: 'ETREAT' }] }],
      },
      { who: { identifier: { value: 'only-identifier' } }, requestor: false, altId: 'ålt "id"' },
      { requestor: false, network: { address: '10.0.0.1' } },
    ],
    source: { observer: { display: 'telefhir' } },
    entity: [
      { what: { identifier: { value: 'first-request' } }, type: { code: 'XrequestId' } },
      { what: { identifier: { value: 'second-request' } }, type: { code: 'XrequestId' } },
      { what: { reference: 'Patient/p-5' } },
      { what: { reference: 'Group/g-1' } },
      { what: { reference: 'weird' } },
      { what: { reference: '' } },
    ],
  },
  {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    recorded: '2026-03-04T05:06:07Z',
    agent: [{ requestor: true }],
    source: { observer: { display: 'telefhir' } },
    entity: [{ what: { identifier: { value: 'no-type' } } }],
  },
];

t.test('the columns the append sends are what audit_event_index derives', async (t) => {
  const db = await auditDatabase(t);
  const stored = events().map((event) => storedAuditEvent(event));
  // In one batch, as the batcher appends, and each alone.
  await appendStoredAudits(db, stored);
  for (const event of events()) await appendStoredAudits(db, [storedAuditEvent(event)]);
  const rows = await db.query<{ id: string; same: boolean; derived: unknown; sent: unknown }>(
    `SELECT a.id,
       (x.recorded, x.last_updated, x.patient, x.agent, x.entity, x.type, x.subtype, x.action,
        x.outcome, x.purpose_of_use, x.request_id, x.altid, x.address)
         IS NOT DISTINCT FROM
       (a.recorded, a.last_updated, a.patient, a.agent, a.entity, a.type, a.subtype, a.action,
        a.outcome, a.purpose_of_use, a.request_id, a.altid, a.address) AS same,
       to_jsonb(x) - 'recorded' - 'last_updated' AS derived,
       to_jsonb(a) - 'lane' - 'seq' - 'id' - 'recorded' - 'last_updated' - 'prev_hash' - 'hash'
         - 'json' AS sent
     FROM audit_event a CROSS JOIN LATERAL audit_event_index(a.json::jsonb) x`,
  );
  t.equal(rows.length, stored.length * 2, 'every event was stored');
  for (const row of rows) {
    t.same(row.sent, row.derived, `the columns of ${row.id}`);
    t.ok(row.same, 'and its times');
  }
  // What the columns hold, spelled out for the hand-made event: so agreement isn't both empty.
  const [odd] = await db.query<Record<string, unknown>>(
    `SELECT patient, agent, entity, type, subtype, purpose_of_use, request_id, altid, address,
            action, outcome
     FROM audit_event WHERE id = $1`,
    [stored[5]!.id],
  );
  t.same(odd, {
    patient: ['p-5'],
    agent: ['Patient/p-5', 'p-5'],
    entity: ['Group/g-1', 'Patient/p-5', 'g-1', 'p-5'],
    type: ['no-system', '|no-system'],
    subtype: ['c', 'http://only-system|', 's|', 's|c', '|c'],
    purpose_of_use: [
      'ETREAT',
      'HPAYMT',
      'http://terminology.hl7.org/CodeSystem/v3-ActReason|',
      'http://terminology.hl7.org/CodeSystem/v3-ActReason|HPAYMT',
      '|ETREAT',
    ],
    request_id: 'first-request',
    altid: ['ålt "id"'],
    address: ['10.0.0.1'],
    action: 'E',
    outcome: '4',
  });
  const verified = await verifyChain(db);
  t.ok(verified.ok, `audit:verify passes: ${JSON.stringify(verified)}`);
});

t.test(
  'an event holding text jsonb refuses is not stored (it would stop audit:verify)',
  async (t) => {
    const db = await auditDatabase(t);
    const holding = (value: string) =>
      storedAuditEvent(
        built('read', { who: {}, subject: value, entities: [{ reference: 'Patient/p-1' }] }),
      );
    for (const [what, value] of [
      ['NUL', 'sub\u0000ject'],
      ['a lone high surrogate', 'sub\ud800ject'],
      ['a lone low surrogate', 'sub\udc00ject'],
    ] as const) {
      await t.rejects(appendStoredAudits(db, [holding(value)]), /jsonb refuses/, what);
    }
    // The six characters \u0000, an escaped backslash before a NUL's escape, a real pair: fine.
    await appendStoredAudits(db, [holding('sub\\u0000ject'), holding('pair \ud83d\ude00')]);
    const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_event');
    t.equal(rows[0]!.n, 2, 'only the two storable events were stored');
    const verified = await verifyChain(db);
    t.ok(verified.ok, 'and audit:verify reads every row');
  },
);
