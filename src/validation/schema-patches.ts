/**
 * The official R4 JSON schema (`fhir.schema.json`) is used as published, except where it is
 * wrong, too lax for JSON instances, or unsafe to run; those places are changed in an
 * in-memory copy, each for the reason given in patchSchema. The file itself is never edited.
 */

type Json = Record<string, unknown>;

/** Schema keyword: "validate this value as a resource of its own resourceType". */
export const NESTED_RESOURCE = 'fhirNestedResource';
/** ajv format for base64Binary, checked by isBase64. */
export const BASE64_FORMAT = 'fhir-base64';

const BASE64_PATTERN = '^(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+$';

/** The integer types' patterns (written for their XML string form) → their minimum. */
const INTEGER_PATTERNS = new Map<string, number | undefined>([
  ['^-?([0]|([1-9][0-9]*))$', undefined], // integer
  ['^[1-9][0-9]*$', 1], // positiveInt
  ['^[0]|([1-9][0-9]*)$', 0], // unsignedInt
]);

/**
 * The spec's regexes are XML Schema regexes, where `\s` is only space, tab, CR and LF; in
 * JavaScript `\s` is every Unicode space, so a name containing a no-break space (common in
 * pasted text) failed `string`, and a code ending in one failed `code`. Written out here with
 * the XML Schema meaning. A string is then simply non-empty.
 */
const XSD_WHITESPACE_PATTERNS = new Map<string, string | null>([
  ['^[ \\r\\n\\t\\S]+$', null], // string, markdown → minLength 1
  ['^[^\\s]+(\\s[^\\s]+)*$', '^[^ \\t\\n\\r]+(?:[ \\t\\n\\r][^ \\t\\n\\r]+)*$'], // code
  ['^\\S*$', '^[^ \\t\\n\\r]*$'], // uri, url, canonical
]);

export interface PatchedSchema {
  schema: Json;
  /** Pattern as patched → the primitive it checks, for messages ("is not a valid date"). */
  patternNames: Map<string, string>;
  resourceTypes: Set<string>;
}

/**
 * A copy of the official schema with these changes:
 * - `$id` from the draft-04 style `id`, which ajv 8 ignores.
 * - ResourceList (the `oneOf` of all 146 resource types, used by `contained`,
 *   Bundle.entry.resource, Bundle.entry.response.outcome and Parameters.parameter.resource)
 *   → the NESTED_RESOURCE keyword, which validates the value by its own resourceType. The
 *   `oneOf` reports one failure per resource type for any mistake inside a nested resource.
 * - Every definition with `properties` gets `type: object`: the file never says so, so an
 *   array or a string where a CodeableConcept belongs would otherwise pass silently.
 * - FHIRVersion enums (CapabilityStatement.fhirVersion, StructureDefinition.fhirVersion,
 *   ImplementationGuide.fhirVersion and ImplementationGuide.definition.resource.fhirVersion)
 *   stop at 4.0.0: the schema was generated before the 4.0.1 technical correction, so the
 *   version this server speaks was rejected. 4.0.1 is added; nothing else in them changes.
 * - integer, positiveInt and unsignedInt are `type: number` with a regex for their XML
 *   string form, which can't apply to a JSON number (patterns only constrain strings), so
 *   1.5 and -1 passed as positiveInt; they become integers with their minimum.
 * - `\s` in patterns gets its XML Schema meaning (see XSD_WHITESPACE_PATTERNS).
 * - base64Binary's pattern `(\s*([…]){4}\s*)+` (inline on valueBase64Binary and the like)
 *   backtracks exponentially on whitespace (100 bytes of "AAAA  AAAA  …!" take minutes) and
 *   overflows the regex stack on a few MB; the same language is checked in one pass by
 *   isBase64 instead. The base64Binary definition itself (Attachment.data, Binary.data) had
 *   no check at all and gets the same one.
 * - canonical properties have no `_name` sibling for their id and extensions, unlike every
 *   other primitive (so the official StructureDefinition examples, which extend
 *   baseDefinition, failed); it is added.
 * - Element (the type of every `_name` sibling) may be null: FHIR JSON keeps `_name` arrays
 *   aligned with their values with nulls, e.g. `"_given": [null, {"extension": […]}]`.
 * - xhtml (Narrative.div) has no type at all; it must be a string.
 * - Without the `description` texts (2 of the file's 2.7 MB): ajv never reads them, and they
 *   would stay in memory with the compiled schema.
 */
export function patchSchema(official: Json): PatchedSchema {
  const schema = withoutDescriptions(official) as Json;
  schema.$id = schema.id;
  delete schema.id;
  const definitions = schema.definitions as Record<string, Json>;
  const patternNames = new Map<string, string>();

  for (const [name, definition] of Object.entries(definitions)) {
    if (definition.properties !== undefined) definition.type = 'object';
    patchPrimitive(definition);
    if (typeof definition.pattern === 'string' && !patternNames.has(definition.pattern)) {
      patternNames.set(definition.pattern, name);
    }
    const properties = (definition.properties ?? {}) as Record<string, Json>;
    for (const [propertyName, property] of Object.entries(properties)) {
      patchPrimitive(property);
      if (property.items !== undefined) patchPrimitive(property.items as Json);
      addCanonicalSibling(properties, propertyName, property);
    }
  }
  // uri, url and canonical share a pattern: name the general one.
  patternNames.set(XSD_WHITESPACE_PATTERNS.get('^\\S*$') as string, 'uri');

  definitions.ResourceList = { [NESTED_RESOURCE]: true };
  (definitions.Element as Json).type = ['object', 'null'];
  definitions.xhtml = { type: 'string' };
  (definitions.base64Binary as Json).format = BASE64_FORMAT;

  const mapping = (official.discriminator as { mapping: Json }).mapping;
  return { schema, patternNames, resourceTypes: new Set(Object.keys(mapping)) };
}

/** The schema repeats primitive definitions inline in properties, so each node is checked. */
function patchPrimitive(node: Json): void {
  const pattern = node.pattern;
  if (typeof pattern === 'string') {
    if (INTEGER_PATTERNS.has(pattern)) {
      delete node.pattern;
      node.type = 'integer';
      const minimum = INTEGER_PATTERNS.get(pattern);
      if (minimum !== undefined) node.minimum = minimum;
    } else if (pattern === BASE64_PATTERN) {
      delete node.pattern;
      node.format = BASE64_FORMAT;
    } else if (XSD_WHITESPACE_PATTERNS.has(pattern)) {
      const xsd = XSD_WHITESPACE_PATTERNS.get(pattern);
      if (xsd === null || xsd === undefined) {
        delete node.pattern;
        node.minLength = 1;
      } else {
        node.pattern = xsd;
      }
    }
  }
  // The FHIRVersion value set as the schema spells it: ends at 4.0.0, has the old 3.0.1.
  const values = node.enum;
  if (Array.isArray(values) && values.at(-1) === '4.0.0' && values.includes('3.0.1')) {
    node.enum = [...values, '4.0.1'];
  }
}

function addCanonicalSibling(properties: Record<string, Json>, name: string, property: Json) {
  const sibling = `_${name}`;
  if (name.startsWith('_') || sibling in properties) return;
  const element = { $ref: '#/definitions/Element' };
  if (property.$ref === '#/definitions/canonical') {
    properties[sibling] = element;
  } else if ((property.items as Json | undefined)?.$ref === '#/definitions/canonical') {
    properties[sibling] = { type: 'array', items: element };
  }
}

/**
 * base64Binary as the schema's pattern defines it, in one pass: groups of four base64
 * characters, whitespace (XML Schema's: space, tab, CR, LF) only between groups.
 */
export function isBase64(value: string): boolean {
  let inGroup = 0;
  let groups = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      if (inGroup !== 0) return false;
    } else if (
      (c >= 48 && c <= 57) || // 0-9
      (c >= 65 && c <= 90) || // A-Z
      (c >= 97 && c <= 122) || // a-z
      c === 43 || // +
      c === 47 || // /
      c === 61 // =
    ) {
      inGroup = (inGroup + 1) % 4;
      if (inGroup === 0) groups++;
    } else {
      return false;
    }
  }
  return inGroup === 0 && groups > 0;
}

/** A deep copy without schema `description` strings (a property named description is an object, kept). */
function withoutDescriptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDescriptions);
  if (value === null || typeof value !== 'object') return value;
  const copy: Json = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'description' && typeof inner === 'string') continue;
    copy[key] = withoutDescriptions(inner);
  }
  return copy;
}
