import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Resource } from 'fhir/r4.js';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';

/** The resource types a telehealth server stores; their official examples must all validate. */
export const TELEHEALTH_TYPES: readonly string[] = [...RESOURCE_TYPES.keys()];

export interface Example {
  file: string;
  resource: Resource;
}

/**
 * Every official R4 example (hl7.fhir.r4.examples 4.0.1) of the given types, found by their
 * resourceType rather than their file name. npm unpacks the package's `package/` folder, so
 * the files sit at the package root.
 */
export function officialExamples(types: readonly string[]): Map<string, Example[]> {
  const dir = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
  const wanted = new Set(types);
  const byType = new Map<string, Example[]>(types.map((type) => [type, []]));
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.json') || file === 'package.json') continue;
    const resource = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Resource;
    if (wanted.has(resource.resourceType))
      byType.get(resource.resourceType)!.push({ file, resource });
  }
  return byType;
}
