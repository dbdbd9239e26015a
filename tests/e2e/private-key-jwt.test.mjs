// private_key_jwt client authentication (RFC 7523, OIDC Core §9) and the client credentials
// grant, with clients we did not write: panva's openid-client (v6) signs the assertions with
// its PrivateKeyJwt client auth, and a few assertions are crafted here with node:crypto alone
// (replay, also concurrent; the token endpoint as audience; a registered key under an
// algorithm its credential does not name).
//
// The keys are generated at test time: the server gets a temporary tenant file, tenant.yaml
// plus two machine-to-machine clients that register the public halves: e2e-signed (an RSA
// 2048 key as a PEM for RS256, a P-256 key as a JWK for ES256) with a client grant for the
// API, and e2e-signed-nogrant (the same RSA key) without one.

import assert from 'node:assert/strict';
import { constants, createPublicKey, generateKeyPair, randomUUID, sign, verify } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

import * as client from 'openid-client';

import { TENANT, TENANT_FILE, startServer } from './server.mjs';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALGS = ['RS256', 'RS384', 'PS256', 'PS384', 'ES256', 'ES384'];

const SIGNED = { clientId: 'e2e-signed', ecKid: 'e2e-ec-1' };
const NO_GRANT = { clientId: 'e2e-signed-nogrant' };

const newKeyPair = promisify(generateKeyPair);

/** node:crypto key pairs: the registered RSA and P-256 keys, and unregistered ones. */
const keys = {};
let server;
let tenantDir;

/**
 * tenant.yaml plus the signed clients and their client grant. The entries are written as
 * JSON, which is YAML (flow style), under the file's own `clients:` and `clientGrants:`.
 */
async function writeTenant(dir) {
  const rsaPem = keys.rsa.publicKey.export({ type: 'spki', format: 'pem' });
  const { kty, crv, x, y } = keys.ec.publicKey.export({ format: 'jwk' });
  const rsaCredential = { name: 'RSA key', credential_type: 'public_key', alg: 'RS256', pem: rsaPem };
  const clients = [
    {
      name: 'E2E Signed',
      client_id: SIGNED.clientId,
      app_type: 'non_interactive',
      grant_types: ['client_credentials'],
      client_authentication_methods: {
        private_key_jwt: {
          credentials: [
            rsaCredential,
            { name: 'EC key', credential_type: 'public_key', alg: 'ES256', kid: SIGNED.ecKid, jwk: { kty, crv, x, y } },
          ],
        },
      },
    },
    {
      name: 'E2E Signed Without Grant',
      client_id: NO_GRANT.clientId,
      app_type: 'non_interactive',
      grant_types: ['client_credentials'],
      client_authentication_methods: { private_key_jwt: { credentials: [rsaCredential] } },
    },
  ];
  const grants = [{ client_id: SIGNED.clientId, audience: TENANT.audience, scope: ['read:items'] }];

  let text = await readFile(TENANT_FILE, 'utf8');
  const insertUnder = (section, entries) => {
    const lines = entries.map((e) => `  - ${JSON.stringify(e)}\n`).join('');
    const heading = new RegExp(`^${section}:[ \\t]*\\n`, 'm');
    if (heading.test(text)) {
      text = text.replace(heading, (h) => h + lines);
    } else {
      text = `${text.replace(/\n*$/, '\n')}${section}:\n${lines}`;
    }
  };
  insertUnder('clients', clients);
  insertUnder('clientGrants', grants);
  const file = join(dir, 'tenant.yaml');
  await writeFile(file, text);
  return file;
}

before(async () => {
  const rsa = () => newKeyPair('rsa', { modulusLength: 2048 });
  const ec = () => newKeyPair('ec', { namedCurve: 'P-256' });
  [keys.rsa, keys.ec, keys.strangerRsa, keys.strangerEc] = await Promise.all([rsa(), ec(), rsa(), ec()]);
  tenantDir = await mkdtemp(join(tmpdir(), 'portcullis-e2e-tenant-'));
  server = await startServer({ tenant: await writeTenant(tenantDir) });
});

after(async () => {
  await server?.stop();
  if (tenantDir) await rm(tenantDir, { recursive: true, force: true });
});

/** A node:crypto private key as the WebCrypto key openid-client signs with. */
async function cryptoKey(privateKey) {
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const algorithm =
    privateKey.asymmetricKeyType === 'ec'
      ? { name: 'ECDSA', namedCurve: 'P-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return crypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
}

/** openid-client's view of the server for `clientId`, authenticating with `auth`. */
async function configure(clientId, auth) {
  return client.discovery(new URL(server.issuer), clientId, {}, auth, {
    execute: [client.allowInsecureRequests],
  });
}

/** PrivateKeyJwt with a node:crypto private key (and the `kid` to put in the header). */
async function privateKeyJwt(privateKey, kid = undefined) {
  const key = await cryptoKey(privateKey);
  return client.PrivateKeyJwt(kid === undefined ? key : { key, kid });
}

function decodeJwt(jwt) {
  const [header, payload, signature] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url')),
    payload: JSON.parse(Buffer.from(payload, 'base64url')),
    signingInput: `${header}.${payload}`,
    signature: Buffer.from(signature, 'base64url'),
  };
}

/** Verifies an RS256 JWT against the server's JWKS with node:crypto alone. */
async function verifyRs256(jwt) {
  const jwks = await (await fetch(new URL('.well-known/jwks.json', server.issuer))).json();
  const { header, payload, signingInput, signature } = decodeJwt(jwt);
  assert.equal(header.alg, 'RS256');
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `JWKS has the key ${header.kid}`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  assert.ok(verify('sha256', Buffer.from(signingInput), key, signature), 'signature verifies');
  return payload;
}

/**
 * A client assertion signed here with node:crypto only: RS256 (or PS256) with an RSA key,
 * ES256 with a P-256 key. `claims` override the valid defaults for e2e-signed.
 */
function craftAssertion(privateKey, claims = {}, alg = privateKey.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256') {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${b64({ alg, typ: 'JWT' })}.${b64({
    iss: SIGNED.clientId,
    sub: SIGNED.clientId,
    aud: server.issuer,
    iat: now,
    exp: now + 60,
    jti: randomUUID(),
    ...claims,
  })}`;
  const options = {
    RS256: privateKey,
    PS256: { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
    ES256: { key: privateKey, dsaEncoding: 'ieee-p1363' },
  }[alg];
  const signature = sign('sha256', Buffer.from(signingInput), options);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** POSTs a client credentials request authenticated by `assertion` to the token endpoint. */
async function tokenRequestWithAssertion(assertion, extra = {}) {
  const response = await fetch(new URL('oauth/token', server.issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      audience: TENANT.audience,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
      ...extra,
    }),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** Asserts that `promise` fails as an OAuth error response with `error` and `status`. */
async function rejectsWithOAuthError(promise, error, status, message = undefined) {
  await assert.rejects(
    promise,
    (err) => {
      assert.ok(err instanceof client.ResponseBodyError, `${err.name}: ${err.message}`);
      assert.equal(err.error, error, `${err.error}: ${err.error_description}`);
      assert.equal(err.status, status);
      return true;
    },
    message,
  );
}

/** The claims every client credentials access token of e2e-signed carries. */
function assertClientCredentialsToken(at) {
  const now = Date.now() / 1000;
  assert.equal(at.iss, server.issuer);
  assert.equal(at.sub, `${SIGNED.clientId}@clients`);
  assert.deepEqual([].concat(at.aud), [TENANT.audience], `aud ${JSON.stringify(at.aud)}: the API only`);
  assert.equal(at.azp, SIGNED.clientId);
  assert.equal(at.gty, 'client-credentials');
  assert.equal(at.scope, 'read:items');
  assert.ok(Math.abs(at.iat - now) < 120, `iat ${at.iat} is now`);
  assert.ok(at.exp > now, `exp ${at.exp}`);
  assert.ok(at.jti, 'jti');
}

describe('private_key_jwt and client credentials with openid-client', () => {
  test('discovery lists private_key_jwt and the assertion algorithms', async () => {
    const meta = (await configure(SIGNED.clientId, await privateKeyJwt(keys.rsa.privateKey))).serverMetadata();
    assert.ok(meta.token_endpoint_auth_methods_supported.includes('private_key_jwt'), JSON.stringify(meta.token_endpoint_auth_methods_supported));
    assert.deepEqual([...meta.token_endpoint_auth_signing_alg_values_supported].sort(), [...ALGS].sort());
    assert.ok(meta.grant_types_supported.includes('client_credentials'), JSON.stringify(meta.grant_types_supported));
    assert.ok(meta.revocation_endpoint_auth_methods_supported.includes('private_key_jwt'));
  });

  // RFC 8414 §2: revocation_endpoint_auth_signing_alg_values_supported "MUST be present if"
  // private_key_jwt is in revocation_endpoint_auth_methods_supported. The server lists the
  // method for /oauth/revoke (and accepts assertions there) but not the algorithms.
  test('discovery lists the assertion algorithms for the revocation endpoint too', async () => {
    const meta = (await configure(SIGNED.clientId, await privateKeyJwt(keys.rsa.privateKey))).serverMetadata();
    assert.ok(meta.revocation_endpoint_auth_methods_supported.includes('private_key_jwt'));
    assert.deepEqual([...(meta.revocation_endpoint_auth_signing_alg_values_supported ?? [])].sort(), [...ALGS].sort());
  });

  test('RSA key registered as PEM: RS256 assertion, client credentials token for the API', async () => {
    const config = await configure(SIGNED.clientId, await privateKeyJwt(keys.rsa.privateKey));
    const tokens = await client.clientCredentialsGrant(config, { audience: TENANT.audience });
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.expires_in > 0);
    assert.equal(tokens.scope, 'read:items');
    assert.equal(tokens.id_token, undefined, 'no ID token');
    assert.equal(tokens.refresh_token, undefined, 'no refresh token');
    assertClientCredentialsToken(await verifyRs256(tokens.access_token));
  });

  test('P-256 key registered as JWK: ES256 assertion (with the credential kid), the same token', async () => {
    const config = await configure(SIGNED.clientId, await privateKeyJwt(keys.ec.privateKey, SIGNED.ecKid));
    const tokens = await client.clientCredentialsGrant(config, { audience: TENANT.audience });
    assert.equal(tokens.scope, 'read:items');
    assertClientCredentialsToken(await verifyRs256(tokens.access_token));
    // Twice in a row: each openid-client assertion has a fresh jti.
    const again = await client.clientCredentialsGrant(config, { audience: TENANT.audience });
    assert.notEqual(again.access_token, tokens.access_token);
  });

  test('an assertion is single-use: a replay is 401 invalid_client', async () => {
    // The exact token endpoint URL is the other audience an assertion may name.
    const assertion = craftAssertion(keys.rsa.privateKey, { aud: new URL('oauth/token', server.issuer).href });
    const first = await tokenRequestWithAssertion(assertion);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.headers.get('cache-control'), 'no-store');
    assertClientCredentialsToken(await verifyRs256(first.body.access_token));

    const replay = await tokenRequestWithAssertion(assertion);
    assert.equal(replay.status, 401, JSON.stringify(replay.body));
    assert.equal(replay.body.error, 'invalid_client');

    // The same claims but a new jti are fine again (ES256, crafted here too).
    const fresh = await tokenRequestWithAssertion(craftAssertion(keys.ec.privateKey));
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  });

  test('one assertion sent ten times at once is accepted exactly once', async () => {
    const assertion = craftAssertion(keys.ec.privateKey);
    const results = await Promise.all(Array.from({ length: 10 }, () => tokenRequestWithAssertion(assertion)));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses ${statuses}`);
    for (const r of results.filter((x) => x.status !== 200)) {
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid_client');
    }
  });

  test('an assertion signed by an unregistered key is 401 invalid_client', async () => {
    const stranger = await configure(SIGNED.clientId, await privateKeyJwt(keys.strangerRsa.privateKey));
    await rejectsWithOAuthError(client.clientCredentialsGrant(stranger, { audience: TENANT.audience }), 'invalid_client', 401, 'RSA');
    // Naming the registered EC key's kid does not help.
    const strangerEc = await configure(SIGNED.clientId, await privateKeyJwt(keys.strangerEc.privateKey, SIGNED.ecKid));
    await rejectsWithOAuthError(client.clientCredentialsGrant(strangerEc, { audience: TENANT.audience }), 'invalid_client', 401, 'EC');
  });

  test('a registered key is refused under an algorithm its credential does not name (PS256 for RS256)', async () => {
    // A good PS256 signature by the registered RSA key: the key is right, the algorithm is not.
    const pss = await tokenRequestWithAssertion(craftAssertion(keys.rsa.privateKey, {}, 'PS256'));
    assert.equal(pss.status, 401, JSON.stringify(pss.body));
    assert.equal(pss.body.error, 'invalid_client');
    // The control: the same key under RS256 is accepted.
    const rs = await tokenRequestWithAssertion(craftAssertion(keys.rsa.privateKey, {}, 'RS256'));
    assert.equal(rs.status, 200, JSON.stringify(rs.body));
  });

  test('client_secret_basic with any secret is 401 invalid_client for a private_key_jwt client', async () => {
    for (const secret of ['not-a-secret-0123456789abcdefghijklmnop', TENANT.web.clientSecret, 'x']) {
      const config = await configure(SIGNED.clientId, client.ClientSecretBasic(secret));
      const err = await client.clientCredentialsGrant(config, { audience: TENANT.audience }).then(
        () => assert.fail(`client_secret_basic with "${secret}" succeeded`),
        (e) => e,
      );
      // As for a wrong secret: a 401 with a Basic challenge (RFC 6749 §5.2).
      assert.ok(err instanceof client.WWWAuthenticateChallengeError, `${err.name}: ${err.message}`);
      assert.equal(err.status, 401);
      assert.equal(err.cause[0].scheme, 'basic');
      assert.equal((await err.response.json()).error, 'invalid_client');
    }
  });

  test('without a client grant for the API: 403 access_denied', async () => {
    const config = await configure(NO_GRANT.clientId, await privateKeyJwt(keys.rsa.privateKey));
    await rejectsWithOAuthError(client.clientCredentialsGrant(config, { audience: TENANT.audience }), 'access_denied', 403);
  });
});
