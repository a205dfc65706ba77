/**
 * `npm run client -- add|list|disable`: the built-in authorization server's clients, in the
 * database DATABASE_URL names (or DATA_DIR's embedded one: stop the server first, PGlite has
 * one user at a time; or register with POST /auth/register while it runs).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { Clients, ClientMetadataError, type AuthMethod } from '../oauth/clients.js';
import { openOAuthDatabase } from './open-oauth.js';

const USAGE = `Usage: npm run client -- <command> [options]

  add --name N [--redirect-uri URI ...] [--launch-uri URI]
      [--public | --secret | --jwks-uri URI | --jwks-file F] [--scope "..."]
        registers a client and prints its client_id (and, with --secret, the secret: once).
        --secret: client_secret_basic; --jwks-uri/--jwks-file: private_key_jwt;
        --public: no client authentication (a browser app, with PKCE). With --redirect-uri
        the client signs users in (authorization_code, refresh_token); without, it is a
        backend service (client_credentials).
        --scope: the scopes it may be granted, e.g. "system/*.rs" (or
                 "telefhir/export.deidentified": de-identified $export only)
  list  the clients, one a line (id, method, name, scopes, disabled)
  disable CLIENT_ID  it gets no more tokens

Examples:
  npm run client -- add --name "lab feed" --jwks-file lab.jwks.json --scope "system/*.rs"
  npm run client -- add --name reporting --secret --scope "system/Observation.rs"`;

function authMethod(values: Record<string, unknown>): AuthMethod {
  const chosen = ['public', 'secret', 'jwks-uri', 'jwks-file'].filter((k) => values[k]);
  if (chosen.length > 1) throw new ConfigError(`choose one of --${chosen.join(', --')}`);
  if (values.public) return 'none';
  if (values['jwks-uri'] || values['jwks-file']) return 'private_key_jwt';
  if (values.secret) return 'client_secret_basic';
  throw new ConfigError(
    'say how the client authenticates: --public, --secret, --jwks-uri or --jwks-file',
  );
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'launch-uri': { type: 'string' },
      public: { type: 'boolean' },
      secret: { type: 'boolean' },
      'jwks-uri': { type: 'string' },
      'jwks-file': { type: 'string' },
      scope: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  const db = await openOAuthDatabase(loadConfig());
  try {
    const clients = new Clients(db);
    if (command === 'add') {
      const method = authMethod(values);
      let jwks;
      if (values['jwks-file']) {
        try {
          jwks = JSON.parse(readFileSync(values['jwks-file'], 'utf8'));
        } catch {
          throw new ConfigError(`--jwks-file: ${values['jwks-file']} is not a readable JSON file`);
        }
      }
      const { client, secret } = await clients.add({
        name: values.name ?? '',
        redirectUris: values['redirect-uri'] ?? [],
        launchUri: values['launch-uri'],
        authMethod: method,
        jwks,
        jwksUri: values['jwks-uri'],
        scope: values.scope ?? '',
        // A redirect URI means an app users sign in to; without one, a backend service.
        grantTypes:
          method === 'none' || values['redirect-uri']?.length
            ? ['authorization_code', 'refresh_token']
            : ['client_credentials'],
      });
      console.log(`client_id: ${client.clientId}`);
      if (secret) console.log(`client_secret: ${secret}   (shown once: keep it now)`);
    } else if (command === 'list') {
      for (const c of await clients.list()) {
        console.log(
          [
            c.clientId,
            c.authMethod,
            JSON.stringify(c.name),
            c.scope || '-',
            c.disabled ? 'disabled' : 'enabled',
          ].join('\t'),
        );
      }
    } else if (command === 'disable') {
      const [clientId] = rest;
      if (!clientId) throw new ConfigError('disable needs a client id');
      if (!(await clients.disable(clientId))) throw new ConfigError(`no client ${clientId}`);
      console.log(`disabled ${clientId}`);
    } else {
      throw new ConfigError(`unknown command "${command}" (see npm run client -- --help)`);
    }
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof ClientMetadataError;
  console.error(`telefhir client: ${known ? (err as Error).message : String(err)}`);
  process.exit(1);
});
