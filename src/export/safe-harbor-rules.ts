/**
 * The rules of the Safe Harbor transform (safe-harbor.ts walks resources by them): which code
 * systems, extensions, types and paths are kept or removed, the restricted ZIP3s, birth-date
 * paths, age units, and the categories a job's status lists. Tables only; no logic beyond
 * small predicates over them.
 */

/**
 * Three-digit ZIP codes whose area holds 20,000 people or fewer: the 17 of HHS's guidance
 * (OCR, "Guidance Regarding Methods for De-identification of Protected Health Information",
 * 2012, §3.3, from Census 2000 ZCTAs: 036 059 063 102 203 556 692 790 821 823 830 831 878
 * 879 884 890 893) together with those the same computation gives on Census 2010 ZCTAs
 * (205 369 753 772 added; 063 and 790 no longer small). The guidance says to use the current
 * data; the union is used because reporting 000 for more areas is never less private.
 */
export const RESTRICTED_ZIP3: ReadonlySet<string> = new Set([
  '036', '059', '063', '102', '203', '205', '369', '556', '692', '753', '772', '790', '821',
  '823', '830', '831', '878', '879', '884', '890', '893',
]); // prettier-ignore

/** Code systems whose codes and displays are a published terminology, not local values. */
export const STANDARD_SYSTEMS = new Set([
  'http://loinc.org',
  'http://snomed.info/sct',
  'http://www.nlm.nih.gov/research/umls/rxnorm',
  'http://unitsofmeasure.org',
  'http://hl7.org/fhir/sid/cvx',
  'http://hl7.org/fhir/sid/ndc',
  'http://hl7.org/fhir/sid/icd-10',
  'http://hl7.org/fhir/sid/icd-10-cm',
  'http://hl7.org/fhir/sid/icd-9-cm',
  'http://www.ama-assn.org/go/cpt',
  'http://nucc.org/provider-taxonomy',
  'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode',
  'urn:ietf:bcp:47',
  'urn:iso:std:iso:3166',
  'urn:oid:2.16.840.1.113883.6.238', // CDC Race & Ethnicity
]);
/** FHIR's and HL7's own code systems (not `http://hl7.org/fhir/sid/`: identifier systems live there). */
export const STANDARD_PREFIXES = [
  'http://terminology.hl7.org/CodeSystem/',
  'http://hl7.org/fhir/us/core/CodeSystem/',
];
export const isStandardSystem = (system: unknown): boolean =>
  typeof system === 'string' &&
  (STANDARD_SYSTEMS.has(system) ||
    STANDARD_PREFIXES.some((p) => system.startsWith(p)) ||
    // core code systems are http://hl7.org/fhir/<name>, one segment (administrative-gender, ...)
    /^http:\/\/hl7\.org\/fhir\/[a-z][a-z0-9-]*$/.test(system));

/** Extensions defined by HL7 (walked by these rules); every other extension is removed. */
export const KNOWN_EXTENSION_PREFIXES = [
  'http://hl7.org/fhir/StructureDefinition/',
  'http://hl7.org/fhir/us/core/StructureDefinition/',
];
/** HL7 extensions that are identifying by nature: removed even so. */
export const DENIED_EXTENSIONS = new Set(['http://hl7.org/fhir/StructureDefinition/geolocation']);

/** Types removed wherever they appear. */
export const REMOVED_TYPES = new Set([
  'HumanName',
  'ContactPoint',
  'Identifier',
  'Annotation',
  'Signature',
  'Narrative',
  'xhtml',
  'base64Binary',
  'string',
  'markdown',
  'uri',
  'url',
  'oid',
  'uuid',
  'id',
]);
/** Values of a removed type kept at these paths: they are terminology or structure, not data. */
export const SAFE_STRINGS = new Set([
  'Coding.system',
  'Quantity.system',
  'Quantity.unit',
  'Age.system',
  'Age.unit',
  'Count.system',
  'Count.unit',
  'Distance.system',
  'Distance.unit',
  'Duration.system',
  'Duration.unit',
  'Reference.type',
  'Extension.url',
  'Address.state',
  'Address.country',
  'QuestionnaireResponse.item.linkId',
]);
/** Removed although their type is kept. */
export const REMOVED_PATHS = new Set([
  'Meta.lastUpdated',
  'Meta.profile',
  'Location.position',
  // (Q) full-face photographs: the whole Attachment, not only its bytes
  'Patient.photo',
  'Practitioner.photo',
  'RelatedPerson.photo',
  'Person.photo',
]);
export const BIRTH_DATES = new Set([
  'Patient.birthDate',
  'RelatedPerson.birthDate',
  'Practitioner.birthDate',
  'Person.birthDate',
]);
/**
 * R4 invariants that need one of several elements, all of which can be removed: when none is
 * left, the first is marked masked. org-1: an Organization has a name or an identifier;
 * pat-1: a Patient's contact has a name, telecom, address or organization.
 */
export const INVARIANT_MASKS: ReadonlyMap<string, readonly string[]> = new Map([
  ['Organization', ['name', 'identifier']],
  ['Patient.contact', ['name', 'telecom', 'address', 'organization']],
]);
/** Resource types left out of a de-identified export altogether. */
export const LEFT_OUT = new Set(['Binary']);

/** Years per unit of UCUM's time units, for ages. */
export const YEARS_PER: Record<string, number> = {
  a: 1,
  mo: 12,
  wk: 52.1775,
  d: 365.25,
  h: 8766,
  min: 525960,
};
export const AGE_TYPES = new Set(['Age', 'Quantity']);
export const QUANTITIES = new Set(['Quantity', 'Age', 'Duration', 'Count', 'Distance']);

/** What `describe()` lists: the categories, never values. */
export const CATEGORIES = [
  'safe-harbor 45 CFR 164.514(b)(2)',
  'names removed (HumanName, free-text strings)',
  'addresses generalized to state, country and ZIP3 (000 for restricted ZIP3s)',
  'geolocation removed',
  'dates generalized to year (instants to YYYY-01-01T00:00:00Z); meta.lastUpdated removed',
  'ages over 89 aggregated into 90 or older (birth years and Age values)',
  'telecom removed (phone, fax, email)',
  'identifiers removed (SSN, MRN, plan, account, license, device and all others)',
  'URLs and URIs removed (except code systems, units and extension definitions)',
  'attachments reduced to content type and size; Binary resources left out',
  'narrative, notes, annotations, signatures and other free text removed',
  'codings of non-standard code systems removed; displays of all codings removed',
  'extensions not defined by HL7 removed',
  'resource ids and references replaced by keyed pseudonyms (HMAC-SHA256)',
  'meta.versionId and meta.profile removed',
];
