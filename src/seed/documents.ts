/**
 * Documents and where data came from: each visit's note as a small text Binary (written by id,
 * so a re-run doesn't make another copy) and the US Core DocumentReference that points at it;
 * Provenance for what clinicians authored; and one Group of the whole population (what a bulk
 * export names).
 */
import type { Binary, DocumentReference, Group, Provenance, Resource } from 'fhir/r4.js';
import { concept, LOINC, ref, Seeding, US_CORE } from './context.js';
import type { SeededPatient } from './patients.js';
import type { Visit } from './visits.js';

const PROVENANCE_AGENT = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';

/**
 * The one document of a population sent with its bytes inline (US Core's must-support
 * `attachment.data`): the server moves them to a Binary of its own, under an id of its
 * choosing, so each re-run adds one Binary for it. Every other note's Binary is written by id.
 */
const INLINE = '0-0';

export function visitNote(s: Seeding, who: SeededPatient, visit: Visit, key: string) {
  const text = [
    `Telehealth visit ${visit.start.slice(0, 10)}`,
    `Reason: ${visit.reason[1]}`,
    'Assessment and plan discussed; patient agrees with plan.',
  ].join('\n');
  const data = Buffer.from(text).toString('base64');
  const binary: Binary | undefined =
    key === INLINE
      ? undefined
      : s.add<Binary>({
          resourceType: 'Binary',
          id: s.id('binary', key),
          contentType: 'text/plain',
          securityContext: ref(who.patient),
          data,
        });
  return s.add<DocumentReference>({
    resourceType: 'DocumentReference',
    id: s.id('document', key),
    meta: { profile: [`${US_CORE}us-core-documentreference`] },
    identifier: [{ system: 'urn:ietf:rfc:3986', value: `urn:uuid:${uuidOf(s)}` }],
    status: 'current',
    type: concept(LOINC, '11506-3', 'Progress note'),
    category: [
      concept(
        'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category',
        'clinical-note',
        'Clinical Note',
      ),
    ],
    subject: ref(who.patient),
    date: visit.end,
    author: [ref(who.clinician.practitioner)],
    custodian: ref(who.clinician.clinic.organization),
    description: `Progress note: ${visit.reason[1]}`,
    content: [
      {
        attachment: {
          contentType: 'text/plain',
          ...(binary ? { url: `Binary/${binary.id}` } : { data }),
          size: Buffer.byteLength(text),
          title: 'Progress note',
          creation: visit.end,
        },
        format: {
          system: 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode',
          code: 'urn:ihe:pcc:xphr:2007',
          display: 'Personal Health Records',
        },
      },
    ],
    context: {
      encounter: [ref(visit.encounter)],
      period: { start: visit.start, end: visit.end },
    },
  });
}

/** A random-looking but reproducible UUID. */
function uuidOf(s: Seeding): string {
  const hex = Array.from({ length: 32 }, () => s.random.int(16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** Who authored `targets` and for whom, and the system that sent them (us). */
export function provenance(
  s: Seeding,
  who: SeededPatient,
  key: string,
  targets: Resource[],
  at: string,
) {
  return s.add<Provenance>({
    resourceType: 'Provenance',
    id: s.id('provenance', key),
    meta: { profile: [`${US_CORE}us-core-provenance`] },
    target: targets.map((target) => ref(target)),
    recorded: at,
    agent: [
      {
        type: concept(PROVENANCE_AGENT, 'author', 'Author'),
        who: ref(who.clinician.practitioner),
        onBehalfOf: ref(who.clinician.clinic.organization),
      },
      {
        type: concept(PROVENANCE_AGENT, 'transmitter', 'Transmitter'),
        who: ref(who.clinician.clinic.organization),
        onBehalfOf: ref(who.clinician.clinic.organization),
      },
    ],
  });
}

export function cohort(s: Seeding, patients: SeededPatient[]): Group {
  return s.add<Group>({
    resourceType: 'Group',
    id: s.id('group', 'all'),
    identifier: [{ system: 'urn:telefhir:seed', value: s.prefix }],
    active: true,
    type: 'person',
    actual: true,
    name: `Seeded telehealth population (${s.options.seed})`,
    quantity: patients.length,
    member: patients.map((who) => ({ entity: ref(who.patient), inactive: false })),
  });
}
