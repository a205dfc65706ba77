/**
 * Writes what a start would otherwise work out from large inputs, next to the build:
 * dist/r4-structure-definitions.json, the R4 StructureDefinitions without their documentation
 * (src/fhir/r4-definitions.ts), so the server starts without parsing 35 MB; and
 * dist/profile-snapshots.json, the snapshots of the profiles shipped as differentials
 * (src/validation/snapshot-file.ts). Then compiles every shipped profile, so one the server
 * could not use fails the build; and makes dist/pglite-template-<digest>/, the embedded database
 * initialised and migrated, so a first start skips initdb. Part of `npm run build`.
 */
import { COMPACT_DEFINITIONS_PATH, writeCompactFile } from '../fhir/r4-definitions.js';
import { writeTemplate } from '../db/pglite-template.js';
import { createProfileChecker, generatedSnapshots, loadProfiles } from '../validation/profiles.js';
import { SNAPSHOTS_PATH, writeSnapshotFile } from '../validation/snapshot-file.js';

writeCompactFile(COMPACT_DEFINITIONS_PATH);
const { digest, snapshots } = generatedSnapshots();
writeSnapshotFile(SNAPSHOTS_PATH, digest, snapshots);
// The server compiles each profile on first use; a shipped one that doesn't compile fails here.
createProfileChecker(loadProfiles(), undefined, { compileAll: true });
// The embedded database, initialised and migrated (src/db/pglite-template.ts).
await writeTemplate();
