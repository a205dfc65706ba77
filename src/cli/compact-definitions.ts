/**
 * Writes dist/r4-structure-definitions.json, the R4 StructureDefinitions without their
 * documentation (src/fhir/r4-definitions.ts), so the server starts without parsing 35 MB.
 * Part of `npm run build`.
 */
import { COMPACT_DEFINITIONS_PATH, writeCompactFile } from '../fhir/r4-definitions.js';

writeCompactFile(COMPACT_DEFINITIONS_PATH);
