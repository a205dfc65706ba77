/**
 * HIPAA Safe Harbor de-identification (45 CFR §164.514(b)(2)) of R4 resources, for
 * `$export?_deidentify=safe-harbor`.
 *
 * Design: an allow-list driven by R4's type model (r4-elements.ts). Every resource is walked
 * element by element; what an element becomes is decided by its *type* wherever it appears
 * (in any resource, backbone element, extension or contained resource), with a few rules by
 * definition path. A JSON property the R4 model doesn't know is dropped, and so is every value
 * of a free-text or identifying type unless its path is listed as safe below. So a new
 * resource type, element or extension is de-identified by the same rules, never passed through.
 *
 * The 18 identifiers of §164.514(b)(2)(i) and what happens to them:
 *  (A) names: HumanName is removed wherever it appears; every `string` and `markdown` is removed
 *      unless its path is in SAFE_STRINGS (units, Address.state/country,
 *      QuestionnaireResponse.item.linkId). So Organization/Location names, descriptions,
 *      CodeableConcept.text, Coding.display, Reference.display and the like go too.
 *  (B) geography below a state: Address keeps use, type, state, country and the period's years;
 *      line, city, district and text are removed; a US postalCode keeps its first three digits,
 *      or becomes `000` for a restricted ZIP3 (RESTRICTED_ZIP3); any other postalCode is removed.
 *      Location.position and the geolocation extension (coordinates) are removed.
 *  (C) dates: `date` and `dateTime` keep their year (`YYYY`, still a valid value of their type).
 *      An `instant` must be a full timestamp, so it becomes `YYYY-01-01T00:00:00Z` (meaning
 *      "some time in YYYY"), except meta.lastUpdated, which is removed. `time` (a time of day,
 *      not a date) is kept. Ages over 89: a birthDate whose year is 90 or more years before the
 *      export's year becomes the single category year `<export year - 90>` ("90 or older");
 *      an Age (or a UCUM Quantity in time units) over 89 years becomes `>= 90 a`.
 *  (D)(E)(F) telephone, fax, email: ContactPoint is removed wherever it appears.
 *  (G)(H)(I)(J)(K)(L)(M) SSN, MRN, plan, account, certificate, vehicle and device identifiers
 *      and serial numbers: Identifier is removed wherever it appears (Reference.identifier
 *      too); device serial and lot numbers and UDI strings are strings, so removed; `oid`,
 *      `uuid` and `id` values are removed (a resource's own id is pseudonymized, below).
 *  (N) URLs and (O) IP addresses: `uri` and `url` values are removed except Coding.system,
 *      Quantity.system, Reference.type and Extension.url (definitions, not data), and those
 *      only when they are one (a standard system, a resource type; a unit is short text with
 *      no long number); this takes implicitRules, meta.source, Attachment.url, Endpoint.address. Canonicals (references to
 *      definitions such as QuestionnaireResponse.questionnaire) are kept, except meta.profile:
 *      the output no longer meets the profiles (US Core requires names and identifiers).
 *  (P)(Q) biometrics and photos: Attachment keeps only contentType, language, size and the
 *      creation year (data, url, title, hash removed), and a person's photo is removed
 *      whole; `base64Binary` is removed wherever it appears; Binary resources are left out
 *      entirely (their bytes are free text or images).
 *  (R) any other unique identifying number, characteristic or code, and free text that can
 *      carry all of the above: Narrative (`text`), Annotation (`note`, comments), Signature and
 *      `xhtml` are removed. Codings are kept only for standard terminologies (STANDARD_SYSTEMS):
 *      a local code system can carry anything in its codes, so such a Coding is removed whole.
 *      A kept Coding keeps its system and code, not its display or version: those are text a
 *      client writes (EHRs put local text there) that no server checks against the terminology.
 *      (A code of a standard system is not checked either: that one residual channel is left
 *      to the codes' validation on write.) An Attachment's contentType keeps only its media
 *      type (parameters such as `name=` can carry a file name). Extensions are kept only when defined by HL7 (core or US Core) and then
 *      walked by the same rules; any other extension is removed, and a resource with an
 *      unknown modifierExtension is left out (removing it would change the meaning).
 *
 * Ids and references: a resource's id becomes HMAC-SHA256(key, "Type/id"), base64url with `.`
 * for `_` (43 characters, a valid FHIR id), and every Reference.reference to that resource
 * (relative, absolute with any base, with or without `_history`) becomes `Type/<same
 * pseudonym>`, so records still join; `urn:uuid:` references become another UUID under the key;
 * a contained resource's id and its `#id` references become `#<HMAC("#id")>`. A reference
 * that is none of these is removed. meta.versionId is removed (it counts a record's edits);
 * meta.tag and meta.security keep their standard codings. Element ids (`Element.id`) are
 * removed. Codes, booleans, numbers, quantities and status elements keep their values.
 *
 * Pure and synchronous: no I/O, no clock (the export's time is given when it is made).
 */
import { createHmac } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import type { Deidentifier } from './deidentifier.js';
import { r4Elements, type R4Element, type R4Elements } from './r4-elements.js';
import {
  RESTRICTED_ZIP3,
  isStandardSystem,
  KNOWN_EXTENSION_PREFIXES,
  DENIED_EXTENSIONS,
  REMOVED_TYPES,
  SAFE_STRINGS,
  REMOVED_PATHS,
  BIRTH_DATES,
  INVARIANT_MASKS,
  LEFT_OUT,
  YEARS_PER,
  AGE_TYPES,
  QUANTITIES,
  CATEGORIES,
} from './safe-harbor-rules.js';

export { RESTRICTED_ZIP3 } from './safe-harbor-rules.js';

type Json = Record<string, unknown>;

const EMPTY = Symbol('removed');
type Out = unknown | typeof EMPTY;

export interface SafeHarborOptions {
  /** The export's time: ages are counted to its year. Default: when safeHarbor is called. */
  now?: Date;
}

export function safeHarbor(key: Buffer, options: SafeHarborOptions = {}): Deidentifier {
  if (key.length < 16) throw new Error('safe-harbor needs a key of at least 16 bytes');
  const model = r4Elements();
  const exportYear = (options.now ?? new Date()).getUTCFullYear();
  const ctx: Context = { key, model, exportYear, pseudonym: pseudonyms(key) };
  return {
    method: 'safe-harbor',
    apply: (resource) => deidentify(resource, ctx),
    describe: () => [...CATEGORIES],
  };
}

interface Context {
  key: Buffer;
  pseudonym: (input: string) => string;
  model: R4Elements;
  exportYear: number;
}

/** HMAC-SHA256 of `input`, base64url with `.` for `_`: 43 characters of FHIR's id alphabet. */
export function pseudonym(key: Buffer, input: string): string {
  return createHmac('sha256', key).update(input).digest('base64url').replace(/_/g, '.');
}

/**
 * `pseudonym` under one key, remembered: an export names the same Patients and Practitioners
 * in most of its resources, and an HMAC costs more than the rest of a reference's handling.
 * Bounded: past CACHE_SIZE entries it starts again.
 */
function pseudonyms(key: Buffer): (input: string) => string {
  let cache = new Map<string, string>();
  return (input) => {
    let found = cache.get(input);
    if (found === undefined) {
      if (cache.size >= CACHE_SIZE) cache = new Map();
      found = pseudonym(key, input);
      cache.set(input, found);
    }
    return found;
  };
}
const CACHE_SIZE = 100_000;

function deidentify(resource: Resource, ctx: Context): Resource | undefined {
  const out = transformResource(resource as unknown as Json, ctx, false);
  return out === EMPTY ? undefined : (out as unknown as Resource);
}

class LeaveOut extends Error {}

function transformResource(resource: Json, ctx: Context, contained: boolean): Out {
  const type = resource.resourceType;
  if (typeof type !== 'string' || !ctx.model.isResourceType(type) || LEFT_OUT.has(type)) {
    return EMPTY;
  }
  try {
    const body = walkObject(resource, type, ctx, true);
    const out: Json = { resourceType: type };
    if (typeof resource.id === 'string') {
      out.id = ctx.pseudonym(contained ? `#${resource.id}` : `${type}/${resource.id}`);
    }
    if (body !== EMPTY) Object.assign(out, body);
    // R4 invariants that need one of several elements a name-like value filled (org-1).
    return out;
  } catch (e) {
    if (e instanceof LeaveOut) return EMPTY;
    throw e;
  }
}

/** The object's kept properties, walked by the elements of `path`; EMPTY if none is left. */
function walkObject(value: Json, path: string, ctx: Context, resource = false): Out {
  const elements = ctx.model.of(path);
  if (!elements) return EMPTY;
  const out: Json = {};
  let kept = false;
  for (const [name, item] of Object.entries(value)) {
    if (name.startsWith('_') || name === 'resourceType' || name === 'id') continue;
    const element = elements.get(name);
    if (!element) continue;
    const result = transformValue(element, item, ctx);
    if (result === EMPTY) continue;
    out[name] = result;
    kept = true;
    // A primitive's id and extensions (`_birthDate`): kept only beside a kept single value.
    const extra = value[`_${name}`];
    if (extra !== undefined && !Array.isArray(item) && isObject(extra)) {
      const walked = walkObject(extra, 'Element', ctx);
      if (walked !== EMPTY) out[`_${name}`] = walked;
    }
  }
  if (!kept && !resource) return EMPTY;
  // A required element that had a value and lost it is marked masked, so the output stays
  // valid (Goal.description, Endpoint.address, ...); so is one an invariant needs.
  for (const element of ctx.model.required(path)) {
    const { name } = element;
    if (value[name] === undefined || out[name] !== undefined) continue;
    if (isPrimitive(element.type)) {
      if (!element.array) out[`_${name}`] = { extension: [MASKED] };
    } else out[name] = element.array ? [{ extension: [MASKED] }] : { extension: [MASKED] };
  }
  const oneOf = INVARIANT_MASKS.get(path);
  if (oneOf && !oneOf.some((name) => out[name] !== undefined || out[`_${name}`] !== undefined)) {
    const first = elements.get(oneOf[0]!)!;
    if (isPrimitive(first.type)) out[`_${first.name}`] = { extension: [MASKED] };
    else out[first.name] = first.array ? [{ extension: [MASKED] }] : { extension: [MASKED] };
  }
  return out;
}

/** R4's data-absent-reason `masked`: the value exists but is withheld. */
const MASKED = {
  url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
  valueCode: 'masked',
};
const isPrimitive = (type: string) => /^[a-z]/.test(type);

function transformValue(element: R4Element, value: unknown, ctx: Context): Out {
  if (Array.isArray(value)) {
    const items = value.map((v) => transformOne(element, v, ctx)).filter((v) => v !== EMPTY);
    return items.length > 0 ? items : EMPTY;
  }
  return transformOne(element, value, ctx);
}

function transformOne(element: R4Element, value: unknown, ctx: Context): Out {
  const { path, type } = element;
  if (value === null || value === undefined || REMOVED_PATHS.has(path)) return EMPTY;
  if (path === 'Address.postalCode') return zip3(value);
  if (path === 'Address.state' || path === 'Address.country') return region(value);
  if (path === 'Attachment.contentType') return mediaType(value);
  if (BIRTH_DATES.has(path)) return birthYear(value, ctx.exportYear);
  if (REMOVED_TYPES.has(type) && !SAFE_STRINGS.has(path)) return EMPTY;
  switch (type) {
    case 'boolean':
    case 'integer':
    case 'positiveInt':
    case 'unsignedInt':
    case 'decimal':
    case 'code':
    case 'time':
    case 'canonical':
      return value;
    case 'string':
    case 'uri':
      return typeof value === 'string' ? safeString(path, value) : EMPTY; // the SAFE_STRINGS
    case 'date':
    case 'dateTime':
      return year(value) ?? EMPTY;
    case 'instant': {
      const y = year(value);
      return y ? `${y}-01-01T00:00:00Z` : EMPTY;
    }
    case 'Resource':
      return isObject(value) ? transformResource(value, ctx, path.endsWith('.contained')) : EMPTY;
    case 'Reference':
      return isObject(value) ? reference(value, ctx) : EMPTY;
    case 'Coding':
      return isObject(value) && isStandardSystem(value.system)
        ? walkObject(value, 'Coding', ctx)
        : EMPTY;
    case 'Extension':
      return isObject(value) ? extension(value, path, ctx) : EMPTY;
    case 'BackboneElement':
      return isObject(value) ? walkObject(value, element.children!, ctx) : EMPTY;
  }
  if (!isObject(value)) return EMPTY;
  const walked = walkObject(value, type, ctx);
  if (walked === EMPTY || !QUANTITIES.has(type)) return walked;
  const quantity = walked as Json;
  // qty-3: a unit code needs its system; a system removed (not standard) takes the code along.
  if (quantity.code !== undefined && quantity.system === undefined) delete quantity.code;
  if (Object.keys(quantity).length === 0) return EMPTY;
  return AGE_TYPES.has(type) ? capAge(quantity, type) : quantity;
}

function extension(value: Json, path: string, ctx: Context): Out {
  const url = value.url;
  const nested = path === 'Extension.extension';
  const known =
    typeof url === 'string' &&
    !DENIED_EXTENSIONS.has(url) &&
    (KNOWN_EXTENSION_PREFIXES.some((p) => url.startsWith(p)) ||
      // a complex extension's parts are named by a relative url ('ombCategory', 'text')
      (nested && /^[A-Za-z][A-Za-z0-9-]*$/.test(url)));
  if (!known) {
    if (path.endsWith('.modifierExtension')) throw new LeaveOut();
    return EMPTY;
  }
  const walked = walkObject(value, 'Extension', ctx);
  if (walked === EMPTY) return EMPTY;
  const out = walked as Json;
  // Nothing but the url left: the value or parts it had were removed, so it goes too.
  return Object.keys(out).some((k) => k !== 'url' && !k.startsWith('_')) ? out : EMPTY;
}

const RELATIVE =
  /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

function reference(value: Json, ctx: Context): Out {
  const out: Json = {};
  const target =
    typeof value.reference === 'string' ? pseudonymRef(value.reference, ctx) : undefined;
  if (target) out.reference = target;
  // A type is a resource type, by name or StructureDefinition URL; nothing else is kept.
  if (typeof value.type === 'string' && ctx.model.isResourceType(resourceTypeOf(value.type))) {
    out.type = value.type;
  }
  if (Array.isArray(value.extension)) {
    const ext = transformValue(EXTENSION_OF_ELEMENT, value.extension, ctx);
    if (ext !== EMPTY) out.extension = ext;
  }
  return Object.keys(out).length > 0 ? out : EMPTY;
}

const EXTENSION_OF_ELEMENT: R4Element = {
  path: 'Element.extension',
  type: 'Extension',
  array: true,
  name: 'extension',
  min: 0,
};

function pseudonymRef(reference: string, ctx: Context): string | undefined {
  if (reference.startsWith('#')) {
    return reference === '#' ? '#' : `#${ctx.pseudonym(reference)}`;
  }
  if (reference.toLowerCase().startsWith('urn:uuid:')) {
    const hex = createHmac('sha256', ctx.key).update(reference.toLowerCase()).digest('hex');
    // a version 4 layout, so the result is an ordinary UUID
    return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
  const match = RELATIVE.exec(reference);
  if (!match || !ctx.model.isResourceType(match[1]!)) return undefined;
  return `${match[1]}/${ctx.pseudonym(`${match[1]}/${match[2]}`)}`;
}

const resourceTypeOf = (type: string) =>
  type.startsWith(CORE_DEFINITIONS) ? type.slice(CORE_DEFINITIONS.length) : type;
const CORE_DEFINITIONS = 'http://hl7.org/fhir/StructureDefinition/';

/**
 * A SAFE_STRINGS value, checked once more: a quantity's system must be a standard one (a unit
 * system is not a place for values) and its unit short text without long numbers (`mm[Hg]`,
 * `10*3/uL`, `breaths/min`), so that neither carries an identifier.
 */
function safeString(path: string, value: string): Out {
  if (path.endsWith('.system') && !path.startsWith('Coding.')) {
    return isStandardSystem(value) ? value : EMPTY;
  }
  if (path.endsWith('.unit')) return value.length <= 30 && !/\d{3}/.test(value) ? value : EMPTY;
  return value;
}

function year(value: unknown): string | undefined {
  return typeof value === 'string' && /^\d{4}/.test(value) ? value.slice(0, 4) : undefined;
}

function birthYear(value: unknown, exportYear: number): Out {
  const y = year(value);
  if (!y) return EMPTY;
  // Any birth year that allows an age of 90 or more is the one category "90 or older".
  return exportYear - Number(y) >= 90 ? String(exportYear - 90).padStart(4, '0') : y;
}

function zip3(value: unknown): Out {
  if (typeof value !== 'string') return EMPTY;
  const match = /^(\d{3})\d{2}(?:-?\d{4})?$/.exec(value.trim());
  if (!match) return EMPTY;
  return RESTRICTED_ZIP3.has(match[1]!) ? '000' : match[1]!;
}

/** `text/plain; charset=utf-8; name=x.txt` → `text/plain`. */
function mediaType(value: unknown): Out {
  if (typeof value !== 'string') return EMPTY;
  const match = /^\s*([A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+)/.exec(value);
  return match ? match[1]!.toLowerCase() : EMPTY;
}

/** A state or country as a name or code: letters and spaces only, so nothing else rides in it. */
function region(value: unknown): Out {
  return typeof value === 'string' && /^[A-Za-z][A-Za-z .]{0,39}$/.test(value) ? value : EMPTY;
}

/**
 * An age over 89 years → `>= 90 a`: an Age in any UCUM time unit, and a Quantity in years (an
 * age observation's value). A Duration is a length of time, not an age, and is kept.
 */
function capAge(quantity: Json, type: string): Json {
  const { value, code, system } = quantity;
  if (typeof value !== 'number' || typeof code !== 'string') return quantity;
  if (system !== undefined && system !== 'http://unitsofmeasure.org') return quantity;
  const per = type === 'Age' ? YEARS_PER[code] : code === 'a' ? 1 : undefined;
  if (per === undefined || value / per <= 89) return quantity;
  return {
    ...quantity,
    value: 90,
    comparator: '>=',
    unit: 'years',
    code: 'a',
    system: 'http://unitsofmeasure.org',
  };
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
