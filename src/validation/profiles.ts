import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { r4StructureDefinitions, sourceTag } from '../fhir/r4-definitions.js';
import type { ElementDefinition, Resource, StructureDefinition } from 'fhir/r4.js';
import { fromRoot } from '../paths.js';
import { buildElementTree } from './element-tree.js';
import type { ElementNode } from './element-tree.js';
import { checkValue } from './element-walk.js';
import { generateSnapshot } from './snapshot.js';
import { usCoreDefaults } from './us-core-defaults.js';
import { readSnapshotFile, SNAPSHOTS_PATH } from './snapshot-file.js';
import type { ValidationIssue } from './validator.js';
import { canonicalUrl, loadValueSets } from './valuesets.js';
import type { ValueSets } from './valuesets.js';

/** The StructureDefinitions the server enforces, by canonical URL. */
export interface ProfileRegistry {
  /** By canonical URL; a `|version` suffix is tolerated. */
  get(url: string): StructureDefinition | undefined;
  /** Every profile we ship, snapshots included (for GET StructureDefinition and supportedProfile). */
  all(): StructureDefinition[];
  /**
   * The profiles a resource is checked against whatever its meta.profile says (US Core's, picked
   * by type and, for Observation, Condition and DiagnosticReport, by category and code).
   */
  defaultsFor(resource: Resource): string[];
}

/** A registry read from profiles/, with the ValueSets its required bindings are checked against. */
export interface LoadedProfiles extends ProfileRegistry {
  readonly valueSets: ValueSets;
}

const CORE_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';
const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';

/**
 * The resource type of US Core 5.0.1 profiles that our profiles name as reference targets but
 * that we don't ship (a target we can't type is not checked).
 */
const US_CORE_TARGET_TYPES: Readonly<Record<string, string>> = {
  'us-core-practitionerrole': 'PractitionerRole',
  'us-core-relatedperson': 'RelatedPerson',
  'us-core-location': 'Location',
  'us-core-medication': 'Medication',
  'us-core-condition-encounter-diagnosis': 'Condition',
  'us-core-condition-problems-health-concerns': 'Condition',
  'us-core-procedure': 'Procedure',
  'us-core-careteam': 'CareTeam',
  'us-core-implantable-device': 'Device',
};

/** Options of `loadProfiles`. */
export interface LoadOptions {
  /**
   * Snapshots made at build time (snapshot-file.ts), used when made from these very files;
   * `false` to generate every missing one.
   */
  snapshotFile?: string | false;
}

/**
 * Reads every StructureDefinition in `dir` (default profiles/) and the ValueSets in
 * `dir/valuesets`, once. A profile shipped without a snapshot gets one: from the build's
 * snapshot file when that was made from the same files, else generated from its differential
 * over its base (the R4 definitions are read only then). Throws on a profile it can't complete.
 */
export function loadProfiles(
  dir: string = fromRoot('profiles'),
  options: LoadOptions = {},
): LoadedProfiles {
  const { shipped, digest } = readProfileDir(dir);
  const { snapshotFile = SNAPSHOTS_PATH } = options;
  const prebuilt = snapshotFile === false ? undefined : readSnapshotFile(snapshotFile, digest);
  completeSnapshots(shipped, prebuilt);
  const profiles = [...shipped.values()];
  const valueSets = loadValueSets(join(dir, 'valuesets'));
  return {
    valueSets,
    get: (url) => shipped.get(canonicalUrl(url)),
    all: () => [...profiles],
    defaultsFor: (resource) => usCoreDefaults(resource).filter((url) => shipped.has(url)),
  };
}

/**
 * The snapshots of the profiles in `dir` that ship without one, generated, with the digest
 * `loadProfiles` looks for: what `npm run build` writes to the snapshot file.
 */
export function generatedSnapshots(dir: string = fromRoot('profiles')): {
  digest: string;
  snapshots: Map<string, ElementDefinition[]>;
} {
  const { shipped, digest } = readProfileDir(dir);
  const bare = [...shipped.values()].filter((sd) => !sd.snapshot).map((sd) => sd.url);
  completeSnapshots(shipped, undefined);
  return {
    digest,
    snapshots: new Map(bare.map((url) => [url, shipped.get(url)!.snapshot!.element])),
  };
}

/**
 * The StructureDefinitions in `dir` by URL, and a digest of what snapshots made from them
 * depend on: each file's name and text, the R4 definitions' source, and the code that
 * generates them as it is running (so tests of a changed generator never read an old build's).
 */
function readProfileDir(dir: string) {
  const shipped = new Map<string, StructureDefinition>();
  const here = fileURLToPath(import.meta.url);
  const generator = readFileSync(join(dirname(here), `snapshot${extname(here)}`));
  const hash = createHash('sha256').update(generator).update(`\0${sourceTag()}\0`);
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const text = readFileSync(join(dir, file), 'utf8');
    hash.update(`${file}\0${text}\0`);
    const parsed = JSON.parse(text) as Resource;
    if (parsed.resourceType !== 'StructureDefinition') continue;
    const sd = parsed as StructureDefinition;
    if (shipped.has(sd.url)) throw new Error(`${file}: ${sd.url} is defined twice in ${dir}`);
    shipped.set(sd.url, sd);
  }
  return { shipped, digest: hash.digest('hex') };
}

/** Gives every profile in `shipped` its snapshot, in place: prebuilt, or generated. */
function completeSnapshots(
  shipped: Map<string, StructureDefinition>,
  prebuilt: ReadonlyMap<string, ElementDefinition[]> | undefined,
): void {
  let core: Map<string, StructureDefinition> | undefined;
  const coreDefinition = (url: string): StructureDefinition | undefined => {
    core ??= readCoreDefinitions();
    return core.get(url);
  };
  const completing = new Set<string>();
  const complete = (url: string): StructureDefinition | undefined => {
    const sd = shipped.get(url);
    if (!sd) return coreDefinition(url);
    if (sd.snapshot) return sd;
    if (completing.has(url)) throw new Error(`${url} derives from itself`);
    completing.add(url);
    const element = prebuilt?.get(url) ?? generateSnapshot(sd, complete);
    const withSnapshot: StructureDefinition = { ...sd, snapshot: { element } };
    shipped.set(url, withSnapshot);
    completing.delete(url);
    return withSnapshot;
  };
  for (const url of [...shipped.keys()]) complete(url);
}

function readCoreDefinitions(): Map<string, StructureDefinition> {
  return new Map(r4StructureDefinitions().map((sd) => [sd.url, sd]));
}

/**
 * A checker of one resource against one profile, by URL. Each profile's snapshot is compiled
 * into an element tree once, when first checked against (all at once with `compileAll`);
 * checks are pure and synchronous.
 */
export function createProfileChecker(
  registry: ProfileRegistry,
  valueSets: ValueSets = (registry as Partial<LoadedProfiles>).valueSets ??
    loadValueSets(fromRoot('profiles', 'valuesets')),
  options: { compileAll?: boolean } = {},
): (resource: Resource, profileUrl: string) => ValidationIssue[] {
  const expressionCache = new Map<string, (node: unknown) => unknown[]>();
  // Built on first use unless compileAll: compiling every profile's FHIRPath is ~0.2 s, wasted
  // on a server that enforces no profile by default (VALIDATION_DEFAULT_PROFILES=none, as most
  // tests run). With US Core enforced the app compiles them all at start-up, and `npm run build`
  // does too, so a shipped profile that can't be compiled fails the build rather than a request.
  const trees = new Map<string, ElementNode | null>();
  const treeOf = (url: string): ElementNode | undefined => {
    let tree = trees.get(url);
    if (tree === undefined) {
      const snapshot = registry.get(url)?.snapshot;
      tree = snapshot ? buildElementTree(snapshot.element, { valueSets, expressionCache }) : null;
      trees.set(url, tree);
    }
    return tree ?? undefined;
  };
  if (options.compileAll) for (const sd of registry.all()) treeOf(sd.url);

  const targetType = (url: string): string | undefined => {
    const canonical = canonicalUrl(url);
    const known = registry.get(canonical)?.type;
    if (known) return known;
    if (canonical.startsWith(CORE_PREFIX)) return canonical.slice(CORE_PREFIX.length);
    if (canonical.startsWith(US_CORE)) return US_CORE_TARGET_TYPES[canonical.slice(US_CORE.length)];
    return undefined;
  };
  const typeProfile = (url: string): ElementNode | undefined => treeOf(canonicalUrl(url));

  return (resource, profileUrl) => {
    const url = canonicalUrl(profileUrl);
    const sd = registry.get(url);
    const tree = sd && treeOf(url);
    if (!sd || !tree) {
      return [
        {
          severity: 'warning',
          code: 'not-supported',
          diagnostics: `Profile ${profileUrl} is not known to this server, so it was not checked`,
          expression: resource.resourceType,
        },
      ];
    }
    if (sd.type !== resource.resourceType) {
      return [
        {
          severity: 'error',
          code: 'invalid',
          diagnostics: `Profile ${url} is for ${sd.type}, not ${resource.resourceType}`,
          expression: resource.resourceType,
        },
      ];
    }
    const issues: ValidationIssue[] = [];
    checkValue(tree, resource, resource.resourceType, {
      profileUrl: url,
      valueSets,
      targetType,
      typeProfile,
      issues,
    });
    return issues;
  };
}
