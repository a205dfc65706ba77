/**
 * Care planning: the CareTeam around a patient, a Goal, the assess-and-plan CarePlan a visit
 * ends with, a ServiceRequest for follow-up labs, and the intake questionnaire they answered.
 */
import type { CarePlan, CareTeam, Goal, QuestionnaireResponse, ServiceRequest } from 'fhir/r4.js';
import { concept, LOINC, ref, Seeding, SNOMED, US_CORE } from './context.js';
import type { SeededPatient } from './patients.js';
import type { Visit } from './visits.js';

export function careTeam(s: Seeding, who: SeededPatient, n: number): CareTeam {
  return s.add<CareTeam>({
    resourceType: 'CareTeam',
    id: s.id('careteam', n),
    meta: { profile: [`${US_CORE}us-core-careteam`] },
    status: 'active',
    name: 'Primary care team',
    subject: ref(who.patient),
    participant: [
      {
        role: [
          concept('http://nucc.org/provider-taxonomy', '207Q00000X', 'Family Medicine Physician'),
        ],
        member: ref(who.clinician.practitioner),
        onBehalfOf: ref(who.clinician.clinic.organization),
      },
      {
        role: [concept(SNOMED, '116154003', 'Patient')],
        member: ref(who.patient),
      },
      ...(who.related
        ? [{ role: [concept(SNOMED, '133932002', 'Caregiver')], member: ref(who.related) }]
        : []),
    ],
  });
}

export function plan(s: Seeding, who: SeededPatient, visit: Visit, key: string, team: CareTeam) {
  const goal = s.add<Goal>({
    resourceType: 'Goal',
    id: s.id('goal', key),
    meta: { profile: [`${US_CORE}us-core-goal`] },
    lifecycleStatus: 'active',
    achievementStatus: concept(
      'http://terminology.hl7.org/CodeSystem/goal-achievement',
      'in-progress',
      'In Progress',
    ),
    description: { text: `Improve control of ${visit.reason[1].toLowerCase()}` },
    subject: ref(who.patient),
    startDate: visit.start.slice(0, 10),
    target: [{ dueDate: s.date(120) }],
    expressedBy: ref(who.clinician.practitioner),
  });
  const text = `Assessment: ${visit.reason[1]}. Plan: lifestyle changes, follow-up labs, review in 3 months.`;
  s.add<CarePlan>({
    resourceType: 'CarePlan',
    id: s.id('careplan', key),
    meta: { profile: [`${US_CORE}us-core-careplan`] },
    text: { status: 'additional', div: `<div xmlns="http://www.w3.org/1999/xhtml">${text}</div>` },
    status: 'active',
    intent: 'plan',
    category: [
      concept(
        'http://hl7.org/fhir/us/core/CodeSystem/careplan-category',
        'assess-plan',
        'Assessment and Plan of Treatment',
      ),
    ],
    subject: ref(who.patient),
    encounter: ref(visit.encounter),
    period: { start: visit.start },
    author: ref(who.clinician.practitioner),
    careTeam: [ref(team)],
    goal: [ref(goal)],
  });
  s.add<ServiceRequest>({
    resourceType: 'ServiceRequest',
    id: s.id('servicerequest', key),
    meta: { profile: [`${US_CORE}us-core-servicerequest`] },
    status: 'active',
    intent: 'order',
    category: [concept(SNOMED, '108252007', 'Laboratory procedure')],
    code: concept(LOINC, '24323-8', 'Comprehensive metabolic 2000 panel'),
    subject: ref(who.patient),
    encounter: ref(visit.encounter),
    occurrenceDateTime: s.at(14),
    authoredOn: visit.end,
    requester: ref(who.clinician.practitioner),
  });
  return goal;
}

export function intake(s: Seeding, who: SeededPatient, n: number, visit: Visit | undefined) {
  return s.add<QuestionnaireResponse>({
    resourceType: 'QuestionnaireResponse',
    id: s.id('intake', n),
    meta: { profile: [`${US_CORE}us-core-questionnaireresponse`] },
    identifier: { system: 'urn:telefhir:intake', value: s.id('intake', n) },
    extension: [
      {
        url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-extension-questionnaire-uri',
        valueUri: 'https://telefhir.dev/Questionnaire/telehealth-intake',
      },
    ],
    questionnaire: 'https://telefhir.dev/Questionnaire/telehealth-intake',
    status: 'completed',
    subject: ref(who.patient),
    ...(visit ? { encounter: ref(visit.encounter) } : {}),
    authored: visit?.start ?? s.at(-1),
    author: ref(who.patient),
    item: [
      {
        linkId: 'reason',
        text: 'What would you like to discuss today?',
        answer: [{ valueString: visit ? visit.reason[1] : 'A check-up' }],
      },
      {
        linkId: 'camera',
        text: 'Is your camera working?',
        answer: [{ valueBoolean: true }],
      },
      {
        linkId: 'symptoms',
        text: 'Your symptoms',
        item: [
          {
            linkId: 'symptoms.fever',
            text: 'Do you have a fever?',
            answer: [{ valueBoolean: s.random.chance(0.3) }],
          },
          {
            linkId: 'symptoms.pain',
            text: 'How bad is any pain, from 0 to 10?',
            answer: [{ valueInteger: s.random.between(0, 7) }],
          },
        ],
      },
    ],
  });
}
