import type { Resource } from 'fhir/r4.js';
import { createInvariantChecker } from './invariants.js';
import { createProfileChecker, loadProfiles, type ProfileRegistry } from './profiles.js';
import { createStructureValidator } from './structure.js';
import type { ValidationIssue, Validator } from './validator.js';

export interface ValidatorOptions {
  /** Apply each type's default profiles (US Core) besides those a resource claims. */
  defaultProfiles: boolean;
  /**
   * Compile every profile now rather than each on its first use. With US Core enforced by
   * default nearly every write needs one, so the cost (~0.2 s, about 1 s more when this is the
   * first reader of the R4 definitions, which the first validation would read anyway) is
   * better spent at start-up than on the first request of each type.
   */
  compileProfiles?: boolean;
}

type ProfileCheck = ReturnType<typeof createProfileChecker>;

/** What every validator in this process shares (see createValidator). */
const shared: {
  profiles?: ReturnType<typeof loadProfiles>;
  checkers: Map<boolean, ProfileCheck>;
  structure?: (resource: unknown) => ValidationIssue[];
  invariants?: (resource: Resource) => ValidationIssue[];
} = { checkers: new Map() };

const withoutVersion = (url: string) => url.split('|')[0]!;

/**
 * The three layers composed: R4 structure (JSON schema), the profiles that apply (meta.profile
 * the server knows, the type's defaults, any asked for) and the R4 invariants. Every layer
 * runs, so one answer lists every problem.
 */
export function createValidator(options: ValidatorOptions): {
  validator: Validator;
  profiles: ProfileRegistry;
} {
  // The profiles are ours to get wrong: loaded and compiled now, so a broken one stops
  // start-up. The R4 layers come with the packages and cost ~0.5 s of CPU to build (the 2.7 MB
  // schema, the core definitions' constraints): built on first use, so they don't hold up the
  // server's first answer. (Built in the background after listen instead, they blocked the
  // event loop just as the first connections arrived.) All of it is a pure function of the
  // packages and profiles/, so it is built once per process and shared by every app in it: a
  // server runs one, but a test process starts dozens, and each paid ~1 s of ajv compiling
  // on its first write before this.
  const profiles = (shared.profiles ??= loadProfiles());
  const compileAll = options.compileProfiles === true;
  let checkProfile = shared.checkers.get(compileAll);
  if (checkProfile === undefined) {
    checkProfile = createProfileChecker(profiles, undefined, { compileAll });
    shared.checkers.set(compileAll, checkProfile);
  }
  const buildStructure = () => (shared.structure ??= createStructureValidator());
  const buildInvariants = () => (shared.invariants ??= createInvariantChecker());

  const validate = (resource: Resource, extra: string[] = []): ValidationIssue[] => {
    const issues = [...buildStructure()(resource)];
    const type = resource.resourceType;
    issues.push(...buildInvariants()(resource));
    const claimed = Array.isArray(resource.meta?.profile) ? resource.meta.profile : [];
    const wanted = new Set<string>();
    claimed.forEach((url, index) => {
      if (typeof url !== 'string') return;
      if (profiles.get(url)) wanted.add(withoutVersion(url));
      else {
        issues.push({
          severity: 'warning',
          code: 'not-supported',
          diagnostics: `Profile ${url} is not known to this server, so it was not checked`,
          expression: `${type}.meta.profile[${index}]`,
        });
      }
    });
    if (options.defaultProfiles) for (const url of profiles.defaultsFor(resource)) wanted.add(url);
    for (const url of extra) {
      if (profiles.get(url)) wanted.add(withoutVersion(url));
      else {
        issues.push({
          severity: 'error',
          code: 'not-supported',
          diagnostics: `Profile ${url} is not known to this server`,
          expression: 'profile',
        });
      }
    }
    for (const url of wanted) issues.push(...checkProfile(resource, url));
    return dedupe(issues);
  };
  return { validator: { validate }, profiles };
}

/**
 * Layers may find the same fault in their own words (the schema's enum and a profile's required
 * binding both refuse gender "robot"): one issue per severity, element and kind of problem, the
 * first layer's wording kept.
 */
function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.severity}|${issue.expression}|${issue.code}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export const hasErrors = (issues: ValidationIssue[]) =>
  issues.some((issue) => issue.severity === 'error');
