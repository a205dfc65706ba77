import t from 'tap';
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { buildApp } from '../../src/app.js';
import { LocalKeyWrapper } from '../../src/identity/key-wrapper.js';
import { openDatabase } from '../../src/db/database.js';
import { loadKeyCipher } from '../../src/oauth/key-encryption.js';
import { openOAuth } from '../../src/oauth/oauth.js';
import { MAX_TOKEN_SECONDS } from '../../src/oauth/signing-keys.js';
import { builtInConfig, startBuiltIn } from './helpers.js';

t.test(
  'GET /auth/jwks is public JSON with one RS256 key whose kid is its thumbprint',
  async (t) => {
    const { auth } = await startBuiltIn(t);
    const response = await fetch(`${auth}/jwks`);
    t.equal(response.status, 200);
    t.match(response.headers.get('content-type'), /^application\/json/);
    const { keys } = (await response.json()) as { keys: JWK[] };
    t.equal(keys.length, 1);
    const [key] = keys;
    t.equal(key!.kty, 'RSA');
    t.equal(key!.alg, 'RS256');
    t.equal(key!.use, 'sig');
    t.notOk('d' in key! || 'p' in key! || 'q' in key!, 'no private parts');
    const { calculateJwkThumbprint } = await import('jose');
    t.equal(key!.kid, await calculateJwkThumbprint(key!, 'sha256'));
  },
);

t.test('the private key is stored encrypted, and every replica loads the same', async (t) => {
  const config = await builtInConfig(t);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  t.teardown(() => db.close());
  const wrapper = LocalKeyWrapper.open(config.dataDir);
  const one = await openOAuth(db, wrapper);
  const two = await openOAuth(db, wrapper); // a second replica, starting later
  t.same(await two.keys.jwks(), await one.keys.jwks());
  const [row] = await db.query<{ kid: string; private_jwk: string }>(
    'SELECT kid, private_jwk FROM oauth_signing_key',
  );
  // Base64 ciphertext: no quote can occur in it, so no JSON member name ("RSA" could, by chance).
  t.notMatch(row!.private_jwk, /"d"|"kty"|[{}]/, 'no JWK in the clear');
  t.throws(() => JSON.parse(row!.private_jwk), 'not JSON at all');
  const cipher = await loadKeyCipher(db, wrapper);
  t.match(JSON.parse(cipher.open(row!.private_jwk, row!.kid)), { kty: 'RSA', d: String });
  t.throws(() => cipher.open(row!.private_jwk, 'another-kid'), 'bound to its kid');
  // A token one replica signs, the other's JWKS verifies.
  const token = await one.keys.sign({ sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 });
  await t.resolves(jwtVerify(token, createLocalJWKSet(await two.keys.jwks())));
  // A different KEK (a new DATA_DIR against this database) can't unwrap it: start-up says so.
  await t.rejects(openOAuth(db, new LocalKeyWrapper(Buffer.alloc(32, 7))), /can't be unwrapped/);
});

t.test(
  'rotation: the new key signs, the old one stays published until its tokens expire',
  async (t) => {
    const config = await builtInConfig(t);
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    t.teardown(() => db.close());
    const oauth = await openOAuth(db, LocalKeyWrapper.open(config.dataDir));
    const exp = Math.floor(Date.now() / 1000) + 60;
    const before = await oauth.keys.sign({ sub: 'x', exp });
    const oldKid = (await oauth.keys.jwks()).keys[0]!.kid;
    const newKid = await oauth.keys.rotate((work) => db.transaction(work));
    t.not(newKid, oldKid);
    const after = await oauth.keys.sign({ sub: 'x', exp });
    const jwks = await oauth.keys.jwks();
    t.same(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort(), 'both published');
    const set = createLocalJWKSet(jwks);
    t.equal((await jwtVerify(before, set)).protectedHeader.kid, oldKid);
    t.equal((await jwtVerify(after, set)).protectedHeader.kid, newKid);
    // Once the old key's last token has expired, it leaves the JWKS.
    await db.query(
      `UPDATE oauth_signing_key SET retired_at = now() - make_interval(secs => $1) WHERE kid = $2`,
      [MAX_TOKEN_SECONDS + 1, oldKid],
    );
    const other = await openOAuth(db, LocalKeyWrapper.open(config.dataDir));
    t.same(
      (await other.keys.jwks()).keys.map((k) => k.kid),
      [newKid],
    );
    t.equal(await other.keys.publicKey(oldKid), undefined);
  },
);

const skipOnPglite = {
  skip: process.env.DATABASE_URL ? false : 'needs two handles on one database',
};

t.test(
  'the server starts twice on one database with one key (no second key made)',
  skipOnPglite,
  async (t) => {
    const config = await builtInConfig(t);
    const a = await buildApp(config);
    t.teardown(() => a.close());
    const b = await buildApp({ ...config });
    t.teardown(() => b.close());
    const jwksA = (await a.inject({ url: '/auth/jwks' })).json();
    const jwksB = (await b.inject({ url: '/auth/jwks' })).json();
    t.equal(jwksA.keys.length, 1);
    t.same(jwksA, jwksB);
  },
);
