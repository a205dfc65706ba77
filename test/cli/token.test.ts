import { spawnSync } from 'node:child_process';
import t from 'tap';
import { TS_LOADER } from './run-cli.js';
import { fromRoot } from '../../src/paths.js';
import { tempDataDir } from '../helpers.js';

/** The CLI behind `npm run token`, from source under tsx. */
function token(args: string[], env: Record<string, string> = {}) {
  const { DATABASE_URL: _db, AUTH_HS256_SECRET: _secret, ...inherited } = process.env;
  return spawnSync(process.execPath, [...TS_LOADER, fromRoot('src/cli/token.ts'), ...args], {
    encoding: 'utf8',
    env: { ...inherited, ...env },
  });
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

t.test('--help says a patient/ or user/ token needs a role, with an example', async (t) => {
  const help = token(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /--role R/);
  t.match(help.stdout, /Needed by every token whose scopes are patient\/ or user\//);
  t.match(help.stdout, /--scope "patient\/\*\.rs" --patient 123 --role PATIENT/);
});

t.test('a patient/ token without --role warns on stderr; stdout is the token alone', async (t) => {
  const out = token(['--scope', 'patient/*.rs', '--patient', '123'], { DATA_DIR: tempDataDir(t) });
  t.equal(out.status, 0);
  t.match(out.stderr, /warning: no --role/);
  t.match(out.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);
});

t.test('--role is put in the token upper-cased, and an unknown role is refused', async (t) => {
  const dataDir = tempDataDir(t);
  const out = token(['--scope', 'patient/*.rs', '--patient', '123', '--role', 'patient'], {
    DATA_DIR: dataDir,
  });
  t.equal(out.status, 0);
  t.equal(out.stderr, '', 'no warning');
  t.same(claimsOf(out.stdout.trim()).role, 'PATIENT');
  t.equal(claimsOf(out.stdout.trim()).patient, '123');
  const bad = token(['--role', 'DOCTOR'], { DATA_DIR: dataDir });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /--role must be one of ADMIN, PROVIDER/);
});

t.test('a system/ token needs no role and gets no warning', async (t) => {
  const out = token(['--scope', 'system/*.*'], { DATA_DIR: tempDataDir(t) });
  t.equal(out.status, 0);
  t.equal(out.stderr, '');
  t.equal(claimsOf(out.stdout.trim()).role, undefined);
});
