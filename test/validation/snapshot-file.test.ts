/**
 * The build writes the snapshots of the profiles shipped as differentials (snapshot-file.ts);
 * a start uses them only when they were made from the same profile files.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { fromRoot } from '../../src/paths.js';
import { generatedSnapshots, loadProfiles } from '../../src/validation/profiles.js';
import { readSnapshotFile, writeSnapshotFile } from '../../src/validation/snapshot-file.js';

const APPOINTMENT = 'http://telefhir.dev/fhir/StructureDefinition/telefhir-telehealth-appointment';

t.test('prebuilt snapshots are used only when made from these profiles', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'telefhir-snapshots-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'profile-snapshots.json');

  const { digest, snapshots } = generatedSnapshots();
  t.ok(snapshots.has(APPOINTMENT), 'our differential-only profiles are generated');
  t.notOk(
    [...snapshots.keys()].includes(
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient',
    ),
    'profiles shipped with a snapshot are not',
  );
  writeSnapshotFile(file, digest, snapshots);
  const generated = loadProfiles(undefined, { snapshotFile: false });
  const prebuilt = loadProfiles(undefined, { snapshotFile: file });
  t.same(
    prebuilt.all().map((sd) => sd.snapshot),
    generated.all().map((sd) => sd.snapshot),
    'the same snapshots as generating them',
  );

  // A file with the right digest is what is served (a marker element shows it was read).
  const marked = new Map(snapshots);
  const marker = { id: 'Appointment', path: 'Appointment', short: 'from the file' };
  marked.set(APPOINTMENT, [marker]);
  writeSnapshotFile(file, digest, marked);
  t.same(loadProfiles(undefined, { snapshotFile: file }).get(APPOINTMENT)?.snapshot?.element, [
    marker,
  ]);

  // Any profile file changed (here one we don't even generate): the file is ignored.
  const profiles = join(dir, 'profiles');
  cpSync(fromRoot('profiles'), profiles, { recursive: true });
  const patientFile = join(profiles, 'us-core-patient.json');
  writeFileSync(patientFile, readFileSync(patientFile, 'utf8').replace('"name"', ' "name"'));
  t.equal(readSnapshotFile(file, generatedSnapshots(profiles).digest), undefined);
  const changed = loadProfiles(profiles, { snapshotFile: file }).get(APPOINTMENT);
  t.not(changed?.snapshot?.element.length, 1, 'generated instead');
  t.same(changed?.snapshot, generated.get(APPOINTMENT)?.snapshot);

  writeFileSync(file, '{"digest": "trunc');
  t.equal(readSnapshotFile(file, digest), undefined, 'unreadable: not used (and no throw)');
  t.equal(readSnapshotFile(join(dir, 'none.json'), digest), undefined, 'missing: not used');
});
