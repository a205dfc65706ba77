/**
 * The R4 JSON schema's validate functions, one per resource type: compiled by ajv in this
 * process, or loaded from the module `npm run build` writes (dist/r4-validators.cjs, ajv's
 * standalone code for every type). Compiling costs ~1 s of CPU for the first type a process
 * validates (it pulls in nearly every datatype) and more for each later one; the module loads
 * in ~0.15 s. Every test process and every start paid the compile.
 *
 * The module's first line names the digest of what it was made from: ajv's version, this
 * file's FORMAT and the patched schema itself (schema-patches.ts applied), so any change to
 * the schema or its patches means it is not used (the functions are compiled as before) until
 * the next build writes it again.
 *
 * Both ways share one ajv configuration, including the nested-resource keyword, generated as
 * code that calls a hook (`hooks.nested`, see structure.ts) rather than as a function keyword,
 * which ajv's standalone code can't carry.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { Ajv, type AnySchemaObject, type ErrorObject, type KeywordCxt } from 'ajv';
import { fromRoot } from '../paths.js';
import { BASE64_FORMAT, isBase64, NESTED_RESOURCE } from './schema-patches.js';

const require = createRequire(import.meta.url);
// ajv's code generation helpers (CommonJS, not in its ESM entry's types).
const { _, strConcat } = require('ajv/dist/compile/codegen') as {
  _: (strings: TemplateStringsArray, ...values: unknown[]) => unknown;
  strConcat: (a: unknown, b: unknown) => unknown;
};
const N = (require('ajv/dist/compile/names') as { default: Record<string, unknown> }).default;
const standaloneCode = (require('ajv/dist/standalone') as { default: StandaloneCode }).default;
type StandaloneCode = (ajv: Ajv, refs: Record<string, string>) => string;

/** Bump when the code below changes what the generated module contains. */
const FORMAT = 1;
export const VALIDATORS_PATH = fromRoot('dist', 'r4-validators.cjs');
/** How the generated code reaches the hooks: `require(HOOKS)`, answered by the loader. */
const HOOKS = 'telefhir:schema-hooks';

export interface SchemaHooks {
  /** Validates a nested resource (contained, Bundle entry, parameter) at instance path `at`. */
  nested: ((data: unknown, at: string) => boolean) & { errors?: ErrorObject[] };
}

export type ValidateFunction = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** The digest a module must carry to be used for `schema` (the patched schema). */
export function schemaDigest(schema: AnySchemaObject): string {
  const version = (require('ajv/package.json') as { version: string }).version;
  return createHash('sha256')
    .update(`ajv ${version} format ${FORMAT}\n`)
    .update(JSON.stringify(schema))
    .digest('hex');
}

const formats = { [BASE64_FORMAT]: { type: 'string' as const, validate: isBase64 } };

function configuredAjv(schema: AnySchemaObject, hooks: SchemaHooks, standalone: boolean): Ajv {
  const ajv = new Ajv({
    strict: false, // the schema uses keywords ajv 8 doesn't know (id, discriminator mapping)
    allErrors: true,
    // Measured on the R4 schema: separate functions per definition and no code optimisation
    // pass compile ~40% faster and validate as fast (≈4 µs for a US Core Patient).
    inlineRefs: false,
    code: {
      optimize: false,
      ...(standalone ? { source: true, formats: _`require(${HOOKS}).formats` as never } : {}),
    },
  });
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as AnySchemaObject);
  ajv.addFormat(BASE64_FORMAT, formats[BASE64_FORMAT]);
  // Contained resources, Bundle.entry.resource, Parameters.parameter.resource: validated by
  // their own resourceType's function (hooks.nested), whose errors carry full instance paths.
  ajv.addKeyword({
    keyword: NESTED_RESOURCE,
    schemaType: 'boolean',
    code(cxt: KeywordCxt) {
      const { gen, data, it } = cxt;
      const hook = gen.scopeValue('keyword', {
        ref: hooks,
        code: _`require(${HOOKS})` as never,
      });
      const valid = gen.let(
        'valid',
        _`${hook}.nested(${data}, ${strConcat(N.instancePath, it.errorPath)})` as never,
      );
      gen.if(_`!${valid}` as never, () => {
        gen.assign(
          N.vErrors as never,
          _`${N.vErrors} === null ? ${hook}.nested.errors : ${N.vErrors}.concat(${hook}.nested.errors)` as never,
        );
        gen.assign(N.errors as never, _`${N.vErrors}.length` as never);
      });
      cxt.ok(valid);
    },
  });
  ajv.addSchema(schema);
  return ajv;
}

const refOf = (schema: AnySchemaObject, type: string) =>
  `${String(schema.$id)}#/definitions/${type}`;

/** Each type's function, compiled on first use. */
export function compiledValidators(
  schema: AnySchemaObject,
  hooks: SchemaHooks,
): (type: string) => ValidateFunction {
  const ajv = configuredAjv(schema, hooks, false);
  const compiled = new Map<string, ValidateFunction>();
  return (type) => {
    let validate = compiled.get(type);
    if (!validate) {
      validate = ajv.compile({ $ref: refOf(schema, type) }) as ValidateFunction;
      compiled.set(type, validate);
    }
    return validate;
  };
}

/** The digest on the module's first line, if there is one. */
export function moduleDigest(path: string): string | undefined {
  try {
    const head = readFileSync(path, { encoding: 'utf8', flag: 'r' }).slice(0, 80);
    return /^\/\/ ([0-9a-f]{64})\n/.exec(head)?.[1];
  } catch {
    return undefined;
  }
}

/** The module's functions, if it is there and was made from this digest. */
export function loadValidatorModule(
  path: string,
  digest: string,
  hooks: SchemaHooks,
): ((type: string) => ValidateFunction) | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  if (!text.startsWith(`// ${digest}\n`)) return undefined;
  const module = { exports: {} as Record<string, ValidateFunction> };
  const load = (id: string): unknown => (id === HOOKS ? { ...hooks, formats } : require(id));
  // The build's own output, made by writeValidatorModule below from the schema alone.
  try {
    new Function('require', 'module', 'exports', text)(load, module, module.exports);
  } catch {
    return undefined; // damaged after its digest line was written: compile instead
  }
  const functions = module.exports;
  return (type) => {
    const validate = functions[type];
    if (!validate) throw new Error(`no validate function for ${type} in ${path}`);
    return validate;
  };
}

/**
 * Compiles every resource type and writes ajv's standalone code for them (whole or not at all,
 * renamed into place). ~5 s; part of `npm run build`.
 */
export function writeValidatorModule(
  path: string,
  schema: AnySchemaObject,
  resourceTypes: Iterable<string>,
): void {
  const hooks: SchemaHooks = { nested: () => true };
  const ajv = configuredAjv(schema, hooks, true);
  const refs: Record<string, string> = {};
  for (const type of resourceTypes) refs[type] = refOf(schema, type);
  for (const ref of Object.values(refs)) ajv.getSchema(ref);
  const code = `// ${schemaDigest(schema)}\n${standaloneCode(ajv, refs)}`;
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, code);
  renameSync(partial, path);
}
