/**
 * Writes what a start would otherwise work out from large inputs, next to the build:
 * dist/r4-structure-definitions.json, the R4 StructureDefinitions without their documentation
 * (src/fhir/r4-definitions.ts), so the server starts without parsing 35 MB; and
 * dist/profile-snapshots.json, the snapshots of the profiles shipped as differentials
 * (src/validation/snapshot-file.ts); dist/r4-validators.cjs, every resource type's R4 JSON
 * schema function as code (src/validation/schema-code.ts). Then compiles every shipped profile, so one the server
 * could not use fails the build; and makes dist/pglite-template-<digest>/, the embedded database
 * initialised and migrated, so a first start skips initdb. Part of `npm run build`.
 *
 * `npm start` and the CLIs build first, so when nothing these steps read has changed since the
 * last build (src/build-stamp.ts) they are skipped: the modules that do the work are imported
 * only after that check.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildInputsDigest, upToDate, writeStamp } from '../build-stamp.js';
import { fromRoot } from '../paths.js';

const dist = fromRoot('dist');
// The template's name carries a digest of the migrations and the PGlite version, both among
// the stamp's inputs: with the same stamp, the one template there is the one this build makes.
const template = readdirSync(dist).find(
  (entry) => entry.startsWith('pglite-template-') && existsSync(join(dist, entry, 'PG_VERSION')),
);
const outputs = [
  join(dist, 'r4-structure-definitions.json'),
  join(dist, 'profile-snapshots.json'),
  join(dist, 'r4-validators.cjs'),
  ...(template ? [join(dist, template)] : [join(dist, 'pglite-template-missing')]),
];
const digest = buildInputsDigest();
if (upToDate(digest, outputs)) {
  process.stderr.write(
    'build steps: up to date (compact definitions, profile snapshots, R4 schema functions, PGlite template)\n',
  );
} else {
  const [
    { COMPACT_DEFINITIONS_PATH, writeCompactFile },
    { writeTemplate },
    profiles,
    snapshot,
    structure,
  ] = await Promise.all([
    import('../fhir/r4-definitions.js'),
    import('../db/pglite-template.js'),
    import('../validation/profiles.js'),
    import('../validation/snapshot-file.js'),
    import('../validation/structure.js'),
  ]);
  writeCompactFile(COMPACT_DEFINITIONS_PATH);
  // Every resource type's R4 schema function, as code (src/validation/schema-code.ts).
  structure.writeStructureModule();
  const { digest: profileDigest, snapshots } = profiles.generatedSnapshots();
  snapshot.writeSnapshotFile(snapshot.SNAPSHOTS_PATH, profileDigest, snapshots);
  // The server compiles each profile on first use; a shipped one that doesn't compile fails here.
  profiles.createProfileChecker(profiles.loadProfiles(), undefined, { compileAll: true });
  // The embedded database, initialised and migrated (src/db/pglite-template.ts).
  await writeTemplate();
  writeStamp(digest);
  process.stderr.write(
    'build steps: done (compact definitions, profile snapshots, R4 schema functions, PGlite template)\n',
  );
}
