/**
 * `npm run user`: add, list, disable, against a database of the test's own (the embedded one in
 * a temporary DATA_DIR). The password is never printed, and a bad field is one line on stderr.
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { TS_LOADER } from './run-cli.js';
import { fromRoot } from '../../src/paths.js';
import { tempDataDir } from '../helpers.js';

function user(args: string[], dataDir: string, input?: string) {
  const { DATABASE_URL: _db, ...inherited } = process.env;
  return spawnSync(process.execPath, [...TS_LOADER, fromRoot('src/cli/user.ts'), ...args], {
    encoding: 'utf8',
    input,
    env: { ...inherited, DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
  });
}

t.test('add, list, disable', async (t) => {
  const dir = tempDataDir(t);
  const help = user(['--help'], dir);
  t.equal(help.status, 0);
  t.match(help.stdout, /--fhir-user Patient\/123 --role PATIENT/);
  const add = user(
    [
      'add',
      '--username',
      'Amy',
      '--password',
      'correct horse',
      '--fhir-user',
      'Patient/123',
      '--role',
      'patient',
    ],
    dir,
  );
  t.equal(add.status, 0, add.stderr);
  t.match(add.stdout, /added amy \(PATIENT, Patient\/123\)/);
  t.notMatch(add.stdout + add.stderr, /correct horse/, 'the password is not echoed');
  const stdin = user(
    [
      'add',
      '--username',
      'drw',
      '--password-stdin',
      '--fhir-user',
      'Practitioner/9',
      '--role',
      'PROVIDER',
    ],
    dir,
    'from standard input\n',
  );
  t.equal(stdin.status, 0, stdin.stderr);
  const again = user(
    [
      'add',
      '--username',
      'amy',
      '--password',
      'correct horse',
      '--fhir-user',
      'Patient/123',
      '--role',
      'PATIENT',
    ],
    dir,
  );
  t.equal(again.status, 1);
  t.match(again.stderr, /^telefhir user: there is already a user amy/);
  const bad = user(
    [
      'add',
      '--username',
      'bob',
      '--password',
      'correct horse',
      '--fhir-user',
      'Device/1',
      '--role',
      'PATIENT',
    ],
    dir,
  );
  t.equal(bad.status, 1);
  t.match(bad.stderr, /--fhir-user is Patient\/ID/);
  t.equal(user(['disable', 'AMY'], dir).status, 0);
  const list = user(['list'], dir);
  t.equal(list.status, 0);
  t.same(list.stdout.trim().split('\n'), [
    'amy\tPatient/123\tPATIENT\tdisabled',
    'drw\tPractitioner/9\tPROVIDER\tenabled',
  ]);
  const missing = user(['disable', 'nobody'], dir);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /no user nobody/);
});
