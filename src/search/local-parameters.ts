import type { SearchParameter } from 'fhir/r4.js';

/**
 * Search parameters telefhir defines itself, where R4 has none for something its users must
 * find. They are served like R4's (indexed at write time, listed in the CapabilityStatement).
 */
export const LOCAL_SEARCH_PARAMETERS: readonly SearchParameter[] = [
  {
    resourceType: 'SearchParameter',
    url: 'http://telefhir.dev/fhir/SearchParameter/AuditEvent-purpose-of-use',
    name: 'purpose-of-use',
    status: 'active',
    description:
      "Why the access happened (AuditEvent.purposeOfEvent or an agent's purposeOfUse), e.g. " +
      'BTG for break-the-glass reads: `AuditEvent?purpose-of-use=BTG`.',
    code: 'purpose-of-use',
    base: ['AuditEvent'],
    type: 'token',
    expression: 'AuditEvent.purposeOfEvent | AuditEvent.agent.purposeOfUse',
  },
  {
    resourceType: 'SearchParameter',
    url: 'http://telefhir.dev/fhir/SearchParameter/AuditEvent-request-id',
    name: 'request-id',
    status: 'active',
    description:
      'The X-Request-Id of the request an AuditEvent records (the id in the server log lines), ' +
      'to go from a log line to its audit record: `AuditEvent?request-id=...`.',
    code: 'request-id',
    base: ['AuditEvent'],
    type: 'token',
    expression: "AuditEvent.entity.where(type.code = 'XrequestId').what.identifier",
  },
  {
    resourceType: 'SearchParameter',
    url: 'http://telefhir.dev/fhir/SearchParameter/Binary-patient',
    name: 'patient',
    status: 'active',
    description:
      'The patient a Binary belongs to, recorded when it was created from its securityContext ' +
      "(the DocumentReference's subject, or the Patient itself): `Binary?patient=Patient/123`.",
    code: 'patient',
    base: ['Binary'],
    type: 'reference',
    target: ['Patient'],
    expression:
      "Binary.meta.extension.where(url = 'http://telefhir.dev/fhir/StructureDefinition/binary-patient').value",
  },
  {
    resourceType: 'SearchParameter',
    url: 'http://telefhir.dev/fhir/SearchParameter/Provenance-target-patient',
    name: 'target-patient',
    status: 'active',
    description:
      'The patients in whose compartment every target of a Provenance is, recorded when it was ' +
      'written (src/auth/provenance-compartment.ts). It is what puts a Provenance in a ' +
      "patient's compartment: `Provenance?target-patient=Patient/123`.",
    code: 'target-patient',
    base: ['Provenance'],
    type: 'reference',
    target: ['Patient'],
    expression:
      "Provenance.meta.extension.where(url = 'http://telefhir.dev/fhir/StructureDefinition/provenance-patient').value",
  },
];
