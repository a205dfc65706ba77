/**
 * Registered OAuth clients, in Postgres (oauth_client). One set of rules for what a client may
 * be, whether it comes from `npm run client` or `POST /auth/register` (RFC 7591 names).
 */
import { randomUUID } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { JWK } from 'jose';
import type { Sql } from '../db/database.js';
import { hashSecret, newSecret } from './secrets.js';

export const AUTH_METHODS = ['none', 'client_secret_basic', 'private_key_jwt'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
/** The grants the token endpoint implements; a client may register only these. */
export const SUPPORTED_GRANTS = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
] as const;
const KNOWN_GRANTS: readonly string[] = SUPPORTED_GRANTS;

export interface ClientSpec {
  name: string;
  redirectUris: string[];
  launchUri?: string;
  authMethod: AuthMethod;
  jwks?: { keys: JWK[] };
  jwksUri?: string;
  scope: string;
  grantTypes: string[];
}

export interface Client extends ClientSpec {
  clientId: string;
  secretHash?: string;
  disabled: boolean;
  createdAt: string;
}

/** A client that can't be registered as described: RFC 7591's invalid_client_metadata. */
export class ClientMetadataError extends Error {
  constructor(
    message: string,
    readonly code: 'invalid_client_metadata' | 'invalid_redirect_uri' = 'invalid_client_metadata',
  ) {
    super(message);
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,200}$/;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** https, or http on a loopback address (a developer's machine, the tests); no fragment. */
function checkUrl(value: unknown, what: string, code?: 'invalid_redirect_uri'): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new ClientMetadataError(`${what} must be an absolute URL`, code);
  }
  const secure =
    url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  if (!secure || url.hash || String(value).length > 2000) {
    throw new ClientMetadataError(
      `${what} must be https (http only on loopback), without a fragment`,
      code,
    );
  }
  return String(value);
}

/** Addresses a fetched jwks_uri may never name: private, link-local (metadata), unspecified. */
const INTERNAL = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  INTERNAL.addSubnet(net, bits, 'ipv4');
}
INTERNAL.addSubnet('fc00::', 7, 'ipv6');
INTERNAL.addSubnet('fe80::', 10, 'ipv6');
INTERNAL.addAddress('::', 'ipv6');
const LOOPBACK_NETS = new BlockList();
LOOPBACK_NETS.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK_NETS.addAddress('::1', 'ipv6');

/** A literal IP's family and address, with IPv4-mapped IPv6 read as the IPv4 it maps. */
function literalIp(hostname: string): { address: string; type: 'ipv4' | 'ipv6' } | undefined {
  const host = hostname.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return { address: mapped[1]!, type: 'ipv4' };
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(host);
  if (hex) {
    const [a, b] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
    return { address: `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`, type: 'ipv4' };
  }
  const family = isIP(host);
  return family ? { address: host, type: family === 4 ? 'ipv4' : 'ipv6' } : undefined;
}

/**
 * jwks_uri is fetched by this server, so it may not reach into its network: https to a host
 * that isn't a literal private, link-local (cloud metadata) or unspecified address; http only
 * to 127.0.0.1 or localhost, and loopback at all only outside production (tests serve keys there).
 */
function checkJwksUri(value: unknown): string {
  const uri = checkUrl(value, 'jwks_uri');
  const url = new URL(uri);
  const production = process.env.NODE_ENV === 'production';
  const refuse = () => {
    throw new ClientMetadataError(
      'jwks_uri must be https to a public host (http only on loopback, outside production)',
    );
  };
  const ip = literalIp(url.hostname);
  const loopback =
    url.hostname === 'localhost' || (ip !== undefined && LOOPBACK_NETS.check(ip.address, ip.type));
  if (ip && INTERNAL.check(ip.address, ip.type)) refuse();
  if (loopback && production) refuse();
  if (url.protocol !== 'https:' && !loopback) refuse();
  if (url.username || url.password) refuse();
  return uri;
}

function checkJwks(jwks: unknown): { keys: JWK[] } {
  const keys = (jwks as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 10) {
    throw new ClientMetadataError('jwks must be {"keys": [...]} with 1 to 10 keys');
  }
  for (const key of keys as JWK[]) {
    if (typeof key !== 'object' || key === null || !['RSA', 'EC'].includes(String(key.kty))) {
      throw new ClientMetadataError('jwks keys must be RSA or EC public keys');
    }
    if (PRIVATE_MEMBERS.some((member) => member in key)) {
      throw new ClientMetadataError('jwks must hold public keys only (a private key was sent)');
    }
  }
  return { keys: keys as JWK[] };
}

/** Throws ClientMetadataError unless `spec` describes a client this server can serve. */
export function checkClientSpec(
  spec: ClientSpec,
  grants: readonly string[] = KNOWN_GRANTS,
): ClientSpec {
  const name = String(spec.name ?? '').trim();
  if (!name || name.length > 200)
    throw new ClientMetadataError('a client needs a name (up to 200 characters)');
  if (!AUTH_METHODS.includes(spec.authMethod)) {
    throw new ClientMetadataError(
      `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`,
    );
  }
  if (!Array.isArray(spec.redirectUris) || spec.redirectUris.length > 20) {
    throw new ClientMetadataError(
      'redirect_uris must be a list (up to 20)',
      'invalid_redirect_uri',
    );
  }
  const redirectUris = spec.redirectUris.map((uri) =>
    checkUrl(uri, 'a redirect URI', 'invalid_redirect_uri'),
  );
  const launchUri =
    spec.launchUri === undefined ? undefined : checkUrl(spec.launchUri, 'the launch URI');
  const scopes = String(spec.scope ?? '')
    .split(' ')
    .filter(Boolean);
  if (scopes.length > 100 || !scopes.every((scope) => SCOPE_TOKEN.test(scope))) {
    throw new ClientMetadataError('scope must be space-separated scope tokens');
  }
  if (!Array.isArray(spec.grantTypes) || spec.grantTypes.length === 0) {
    throw new ClientMetadataError('grant_types must name at least one grant');
  }
  for (const grant of spec.grantTypes) {
    if (!grants.includes(grant))
      throw new ClientMetadataError(`grant type ${String(grant)} is not supported`);
  }
  if (spec.grantTypes.includes('client_credentials') && spec.authMethod === 'none') {
    throw new ClientMetadataError(
      'client_credentials needs a confidential client (a secret or keys)',
    );
  }
  if (spec.grantTypes.includes('authorization_code') && redirectUris.length === 0) {
    throw new ClientMetadataError(
      'authorization_code needs a redirect URI',
      'invalid_redirect_uri',
    );
  }
  let jwks: ClientSpec['jwks'];
  let jwksUri: string | undefined;
  if (spec.authMethod === 'private_key_jwt') {
    if ((spec.jwks === undefined) === (spec.jwksUri === undefined)) {
      throw new ClientMetadataError('private_key_jwt needs jwks or jwks_uri (one of them)');
    }
    jwks = spec.jwks === undefined ? undefined : checkJwks(spec.jwks);
    jwksUri = spec.jwksUri === undefined ? undefined : checkJwksUri(spec.jwksUri);
  } else if (spec.jwks !== undefined || spec.jwksUri !== undefined) {
    throw new ClientMetadataError('jwks and jwks_uri are for private_key_jwt clients');
  }
  return {
    name,
    redirectUris,
    launchUri,
    authMethod: spec.authMethod,
    jwks,
    jwksUri,
    scope: scopes.join(' '),
    grantTypes: [...new Set(spec.grantTypes)],
  };
}

interface Row {
  client_id: string;
  name: string;
  redirect_uris: string[];
  launch_uri: string | null;
  auth_method: AuthMethod;
  secret_hash: string | null;
  jwks: { keys: JWK[] } | string | null;
  jwks_uri: string | null;
  scope: string;
  grant_types: string[];
  created_at: Date | string;
  disabled_at: Date | string | null;
}

function fromRow(row: Row): Client {
  return {
    clientId: row.client_id,
    name: row.name,
    redirectUris: row.redirect_uris,
    launchUri: row.launch_uri ?? undefined,
    authMethod: row.auth_method,
    secretHash: row.secret_hash ?? undefined,
    jwks: typeof row.jwks === 'string' ? JSON.parse(row.jwks) : (row.jwks ?? undefined),
    jwksUri: row.jwks_uri ?? undefined,
    scope: row.scope,
    grantTypes: row.grant_types,
    createdAt: new Date(row.created_at).toISOString(),
    disabled: row.disabled_at !== null,
  };
}

export class Clients {
  constructor(private readonly sql: Sql) {}

  /** Registers a client; a client_secret_basic client's secret is returned here, and only here. */
  async add(
    given: ClientSpec,
    grants: readonly string[] = KNOWN_GRANTS,
  ): Promise<{ client: Client; secret?: string }> {
    const spec = checkClientSpec(given, grants);
    const clientId = randomUUID();
    const secret = spec.authMethod === 'client_secret_basic' ? newSecret() : undefined;
    const [row] = await this.sql.query<Row>(
      `INSERT INTO oauth_client (client_id, name, redirect_uris, launch_uri, auth_method,
         secret_hash, jwks, jwks_uri, scope, grant_types)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
      [
        clientId,
        spec.name,
        spec.redirectUris,
        spec.launchUri ?? null,
        spec.authMethod,
        secret ? await hashSecret(secret) : null,
        spec.jwks ? JSON.stringify(spec.jwks) : null,
        spec.jwksUri ?? null,
        spec.scope,
        spec.grantTypes,
      ],
    );
    return { client: fromRow(row!), secret };
  }

  async get(clientId: string): Promise<Client | undefined> {
    const [row] = await this.sql.query<Row>('SELECT * FROM oauth_client WHERE client_id = $1', [
      clientId,
    ]);
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<Client[]> {
    const rows = await this.sql.query<Row>('SELECT * FROM oauth_client ORDER BY created_at');
    return rows.map(fromRow);
  }

  /** Disables a client: it gets no more tokens. Returns false when there is no such client. */
  async disable(clientId: string): Promise<boolean> {
    const rows = await this.sql.query(
      `UPDATE oauth_client SET disabled_at = coalesce(disabled_at, now())
       WHERE client_id = $1 RETURNING client_id`,
      [clientId],
    );
    return rows.length > 0;
  }
}
