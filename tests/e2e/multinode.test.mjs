// Two Portcullis processes on one PostgreSQL behind a load balancer (a small proxy here that
// sends every request to the node the test chooses), as production runs them. openid-client
// and the hosted pages walked over HTTP show that no state that matters lives in one
// process: a login on node A is redeemed on node B, a session made on A is honoured by B,
// a code or a refresh token presented to both at once is honoured once, a client made
// through the Management API on A works on B at once (only found clients are cached), a client
// assertion's jti used on A is refused on B, and a key rotated on A is published by B.
//
// Needs PORTCULLIS_TEST_POSTGRES_URL (set by .ci/run); skipped without it outside CI.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as client from 'openid-client';

import * as flows from './flows.mjs';
import { Browser } from './hosted.mjs';
import { TENANT, TENANT_FILE, freePort, freshPostgresDatabase, startServer } from './server.mjs';

const database = await freshPostgresDatabase();
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const SIGNED = 'e2e-multinode-signed';
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });

/**
 * The load balancer: forwards each request, as it is, to `balancer.target` (a node's own
 * address). Cookies, redirects and the issuer are the balancer's, as behind a real one.
 */
async function startBalancer() {
  const balancer = { target: undefined, url: undefined, server: undefined };
  balancer.server = createServer((req, res) => {
    const upstream = httpRequest(
      new URL(req.url, balancer.target),
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(upstream);
  });
  await new Promise((resolve) => balancer.server.listen(0, '127.0.0.1', resolve));
  balancer.url = `http://127.0.0.1:${balancer.server.address().port}/`;
  return balancer;
}

/** tenant.yaml plus a private_key_jwt client with a client grant for the e2e API. */
async function writeTenant(dir) {
  const pem = signingKey.publicKey.export({ type: 'spki', format: 'pem' });
  const signed = {
    name: 'E2E Multinode Signed',
    client_id: SIGNED,
    app_type: 'non_interactive',
    grant_types: ['client_credentials'],
    client_authentication_methods: {
      private_key_jwt: { credentials: [{ name: 'key', credential_type: 'public_key', alg: 'RS256', pem }] },
    },
  };
  const grant = { client_id: SIGNED, audience: TENANT.audience, scope: ['read:items'] };
  const text = (await readFile(TENANT_FILE, 'utf8')).replace(/^clients:[ \t]*\n/m, (h) => `${h}  - ${JSON.stringify(signed)}\n`);
  const file = join(dir, 'tenant.yaml');
  await writeFile(file, `${text.replace(/\n*$/, '\n')}clientGrants:\n  - ${JSON.stringify(grant)}\n`);
  return file;
}

describe('two nodes on one PostgreSQL', { skip: !database && 'PORTCULLIS_TEST_POSTGRES_URL is not set' }, () => {
  let balancer;
  let tenantDir;
  /** @type {Awaited<ReturnType<typeof startServer>>[]} */
  let nodes = [];
  let a;
  let b;

  before(async () => {
    balancer = await startBalancer();
    tenantDir = await mkdtemp(join(tmpdir(), 'portcullis-multinode-'));
    const tenant = await writeTenant(tenantDir);
    const ports = [await freePort(), await freePort()];
    // Both start at once on the empty database: migrations, keys, node secrets, the tenant
    // file and the Management API client are all made by whichever node gets there first.
    nodes = await Promise.all(ports.map((port) => startServer({ database, publicUrl: balancer.url, port, tenant })));
    [a, b] = nodes;
    balancer.target = a.direct;
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    balancer?.server.close();
    if (tenantDir) await rm(tenantDir, { recursive: true, force: true });
  });

  const webApp = () => flows.webApp(balancer.url);
  const code = flows.codeFor;
  const tokenAt = (node, form, basic) => flows.tokenAt(node.direct, form, basic);

  /** A Management API token from the client the first node created (whichever it was). */
  async function managementToken(node) {
    const creds = nodes.map((n) => n.management).find(Boolean);
    const { status, body } = await tokenAt(
      node,
      { grant_type: 'client_credentials', client_id: creds.clientId, client_secret: creds.clientSecret, audience: creds.audience },
      null,
    );
    assert.equal(status, 200, JSON.stringify(body));
    return body.access_token;
  }

  test('nodes starting at once on an empty database: exactly one creates the Management API client', () => {
    assert.equal(nodes.filter((n) => n.management).length, 1, nodes.map((n) => n.logs()).join('\n----\n'));
  });

  test('authorize and log in on node A, redeem the code on node B (openid-client)', async () => {
    const config = await webApp();
    const browser = new Browser(balancer.url);
    balancer.target = a.direct;
    const got = await code(browser, config);
    assert.deepEqual(got.pages, ['/u/login', '/u/consent']);
    balancer.target = b.direct;
    const tokens = await client.authorizationCodeGrant(config, got.callbackUrl, got.checks);
    assert.equal(tokens.claims().email, TENANT.alice.email);
    const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
    assert.equal(info.email, TENANT.alice.email);

    // The SSO session made on A is honoured by B: no login page, no consent page.
    const again = await code(browser, config);
    assert.deepEqual(again.pages, []);
    balancer.target = a.direct;
    const second = await client.authorizationCodeGrant(config, again.callbackUrl, again.checks);
    assert.equal(second.claims().sub, tokens.claims().sub);
    assert.equal(second.claims().sid, tokens.claims().sid, 'the same session');
  });

  test('the same code redeemed on both nodes at once yields exactly one success', async () => {
    const config = await webApp();
    const browser = new Browser(balancer.url);
    for (let round = 0; round < 10; round++) {
      const got = await code(browser, config);
      const form = flows.codeForm(got);
      const answers = await Promise.all([tokenAt(a, form), tokenAt(b, form)]);
      const statuses = answers.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 400], JSON.stringify(answers));
      assert.equal(answers.find((r) => r.status === 400).body.error, 'invalid_grant');
    }
  });

  test('one refresh token rotated on both nodes at once: one rotation, the other is reuse and revokes the family', async () => {
    const config = await webApp();
    const browser = new Browser(balancer.url);
    for (let round = 0; round < 5; round++) {
      const got = await code(browser, config, { scope: 'openid offline_access read:items', audience: TENANT.audience });
      const tokens = await client.authorizationCodeGrant(config, got.callbackUrl, got.checks);
      assert.ok(tokens.refresh_token, 'a refresh token');
      const form = { grant_type: 'refresh_token', refresh_token: tokens.refresh_token };
      const answers = await Promise.all([tokenAt(a, form), tokenAt(b, form)]);
      const won = answers.filter((r) => r.status === 200);
      assert.equal(won.length, 1, JSON.stringify(answers));
      assert.equal(answers.find((r) => r.status !== 200).body.error, 'invalid_grant');
      // e2e-web has no leeway: the loser presented a rotated token, so the family is gone,
      // and with it the winner's new token (never two chains).
      const next = await tokenAt(b, { grant_type: 'refresh_token', refresh_token: won[0].body.refresh_token });
      assert.equal(next.status, 400, JSON.stringify(next.body));
      assert.equal(next.body.error, 'invalid_grant');
    }
  });

  test('a client created through the Management API on node A works on node B at once', async () => {
    const token = await managementToken(a);
    const mgmt = async (path, body) => {
      const response = await fetch(`${a.direct}/api/v2/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 201, path);
      return response.json();
    };
    const made = await mgmt('clients', { name: `Made on A ${randomUUID()}`, app_type: 'non_interactive', grant_types: ['client_credentials'] });
    await mgmt('client-grants', { client_id: made.client_id, audience: TENANT.audience, scope: ['read:items'] });
    const { status, body } = await tokenAt(b, { grant_type: 'client_credentials', audience: TENANT.audience }, [made.client_id, made.client_secret]);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.scope, 'read:items');
  });

  test('a client assertion used on node A is refused on node B (jti replay)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iss: SIGNED, sub: SIGNED, aud: balancer.url, iat: now, exp: now + 60, jti: randomUUID() })}`;
    const assertion = `${input}.${sign('sha256', Buffer.from(input), signingKey.privateKey).toString('base64url')}`;
    const form = { grant_type: 'client_credentials', audience: TENANT.audience, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion };
    const first = await tokenAt(a, form, null);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const replay = await tokenAt(b, form, null);
    assert.equal(replay.status, 401, JSON.stringify(replay.body));
    assert.equal(replay.body.error, 'invalid_client');
  });

  test('a key rotated on node A signs only once node B publishes it', async () => {
    const jwks = async (node) => (await (await fetch(`${node.direct}/.well-known/jwks.json`)).json()).keys.map((k) => k.kid);
    const kidOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).kid;
    const token = await managementToken(a);
    const before = kidOf(token);
    const publishedByB = await jwks(b);
    const response = await fetch(`${a.direct}/api/v2/keys/signing/rotate`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 201);
    const after = kidOf(await managementToken(a));
    assert.notEqual(after, before, 'A signs with the new key');
    assert.ok(publishedByB.includes(after), 'B published that key before A signed with it');
    assert.ok((await jwks(b)).includes(before), 'the previous key stays published');
  });
});
