/**
 * `npm run user -- add|list|disable`: the people who sign in to the built-in authorization
 * server, in the database DATABASE_URL names (or DATA_DIR's embedded one: stop the server
 * first, PGlite has one user at a time). Passwords are stored only as scrypt hashes.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { UserError, Users } from '../oauth/users.js';
import { openOAuthDatabase } from './open-oauth.js';

const USAGE = `Usage: npm run user -- <command> [options]

  add --username U --password P --fhir-user Patient/123 --role PATIENT
        adds a user who can sign in to SMART apps. --fhir-user is who they are in FHIR
        (Patient/ID, Practitioner/ID or RelatedPerson/ID); --role one of ADMIN, PROVIDER,
        NURSE, RECEPTIONIST, STAFF, PATIENT (a Patient), GUARDIAN (a RelatedPerson).
        --password-stdin reads the password from standard input instead (no shell history).
  list  the users, one a line (username, fhirUser, role, enabled/disabled)
  disable USERNAME  they can no longer sign in, and every token they approved is revoked

Example:
  npm run user -- add --username amy --password 'correct horse battery' \\
    --fhir-user Patient/123 --role PATIENT`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      username: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      'fhir-user': { type: 'string' },
      role: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  const db = await openOAuthDatabase(loadConfig());
  try {
    const users = new Users(db);
    if (command === 'add') {
      const password = values['password-stdin'] ? await readStdin() : (values.password ?? '');
      const user = await users.add({
        username: values.username ?? '',
        password,
        fhirUser: values['fhir-user'] ?? '',
        role: (values.role ?? '').toUpperCase(),
      });
      console.log(`added ${user.username} (${user.role}, ${user.fhirUser})`);
    } else if (command === 'list') {
      for (const u of await users.list()) {
        console.log(
          [u.username, u.fhirUser, u.role, u.disabled ? 'disabled' : 'enabled'].join('\t'),
        );
      }
    } else if (command === 'disable') {
      const [username] = rest;
      if (!username) throw new ConfigError('disable needs a username');
      if (!(await users.disable(username))) throw new ConfigError(`no user ${username}`);
      console.log(`disabled ${username}; the tokens they approved are revoked`);
    } else {
      throw new ConfigError(`unknown command "${command}" (see npm run user -- --help)`);
    }
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof UserError;
  console.error(`telefhir user: ${known ? (err as Error).message : String(err)}`);
  process.exit(1);
});
