/**
 * jwks_uri is fetched by the server, so it may not point into the server's own network:
 * https only (http on loopback only outside production), never a literal private,
 * link-local or metadata address.
 */
import t from 'tap';
import { checkClientSpec, type ClientSpec } from '../../src/oauth/clients.js';

const spec = (jwksUri: string): ClientSpec => ({
  name: 'svc',
  redirectUris: [],
  authMethod: 'private_key_jwt',
  jwksUri,
  scope: 'system/*.rs',
  grantTypes: ['client_credentials'],
});

t.test('jwks_uri may not name an internal address', async (t) => {
  for (const uri of [
    'https://169.254.169.254/latest/meta-data/',
    'https://10.0.0.5/jwks',
    'https://172.16.1.1/jwks',
    'https://192.168.1.1/jwks',
    'https://[fd00::1]/jwks',
    'https://[fe80::1]/jwks',
    'https://[::ffff:169.254.169.254]/jwks',
    'https://0.0.0.0/jwks',
    'http://10.0.0.5/jwks',
  ]) {
    t.throws(() => checkClientSpec(spec(uri)), { code: 'invalid_client_metadata' }, uri);
  }
  t.ok(checkClientSpec(spec('https://keys.example.com/jwks.json')));
  t.ok(checkClientSpec(spec('http://127.0.0.1:8000/jwks.json')), 'loopback outside production');
});

t.test('in production, jwks_uri is https to a public host only', async (t) => {
  const before = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  t.teardown(() => {
    process.env.NODE_ENV = before;
  });
  for (const uri of [
    'http://localhost:5432/',
    'http://127.0.0.1:8000/jwks.json',
    'https://127.0.0.1/jwks',
    'https://[::1]/jwks',
  ]) {
    t.throws(() => checkClientSpec(spec(uri)), { code: 'invalid_client_metadata' }, uri);
  }
  t.ok(checkClientSpec(spec('https://keys.example.com/jwks.json')));
});
