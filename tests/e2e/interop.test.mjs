// Interoperability with a relying-party library we did not write: panva's openid-client (v6).
// It does discovery, builds the authorization URL (PKCE S256, state, nonce), redeems the
// code and validates the ID token (JWKS signature, iss, aud, exp, nonce) and the
// authorization response (state, iss). The hosted login and consent pages are walked over
// plain HTTP by hosted.mjs.

import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import * as client from 'openid-client';

import { Browser, authorizeOverHttp, parseForm } from './hosted.mjs';
import { TENANT, startServer } from './server.mjs';

const SCOPE = 'openid profile email read:items';

let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

/** openid-client's view of the server for one of the tenant's clients. */
async function configure({ clientId, clientSecret }, auth = client.ClientSecretBasic(clientSecret)) {
  return client.discovery(new URL(server.issuer), clientId, { client_secret: clientSecret }, auth, {
    execute: [client.allowInsecureRequests],
  });
}

/** Fresh checks and the authorization URL that carries them. */
async function authorizationRequest(config, extra = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const checks = {
    pkceCodeVerifier,
    expectedState: client.randomState(),
    expectedNonce: client.randomNonce(),
  };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: TENANT.redirectUri,
    scope: SCOPE,
    audience: TENANT.audience,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: checks.expectedState,
    nonce: checks.expectedNonce,
    ...extra,
  });
  return { url, checks };
}

const alice = { username: TENANT.alice.email, password: TENANT.alice.password };

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

describe('openid-client v6 against Portcullis', () => {
  let first; // the tokens of the first login, for later comparisons

  test('discovery reads the metadata', async () => {
    const config = await configure(TENANT.web);
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, server.issuer);
    assert.equal(meta.authorization_endpoint, new URL('authorize', server.issuer).href);
    assert.ok(meta.code_challenge_methods_supported.includes('S256'));
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
  });

  test('authorization code flow with PKCE: login, consent, tokens, userinfo (client_secret_basic)', async () => {
    const config = await configure(TENANT.web);
    const { url, checks } = await authorizationRequest(config);
    const browser = new Browser(server.origin);
    const { callbackUrl, status, pages } = await authorizeOverHttp(browser, url, alice);

    assert.deepEqual(pages, ['/u/login', '/u/consent'], 'a third-party client asks for consent the first time');
    assert.equal(status, 303, 'the consent POST redirects with 303');
    assert.equal(callbackUrl.origin + callbackUrl.pathname, TENANT.redirectUri);
    assert.equal(callbackUrl.searchParams.get('state'), checks.expectedState);
    assert.equal(callbackUrl.searchParams.get('iss'), server.issuer);
    assert.ok(callbackUrl.searchParams.get('code'));
    assert.ok(browser.jar.has('portcullis_session'), 'an SSO session cookie was set');

    const tokens = await client.authorizationCodeGrant(config, callbackUrl, checks);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.expires_in > 0);

    const claims = tokens.claims();
    assert.ok(claims.sub.startsWith('auth0|'), `sub ${claims.sub}`);
    assert.equal(claims.iss, server.issuer);
    assert.equal(claims.aud, TENANT.web.clientId);
    assert.equal(claims.email, TENANT.alice.email);
    assert.equal(claims.email_verified, true);
    assert.equal(claims.name, TENANT.alice.name);
    assert.equal(claims.nonce, checks.expectedNonce);
    assert.equal(typeof claims.auth_time, 'number');
    assert.ok(Math.abs(claims.auth_time - Date.now() / 1000) < 120, 'auth_time is now');
    assert.ok(claims.sid, 'sid');

    // at_hash: the left half of SHA-256 of the access token (OIDC Core 3.1.3.6).
    const digest = createHash('sha256').update(tokens.access_token).digest();
    assert.equal(claims.at_hash, digest.subarray(0, 16).toString('base64url'));

    // The access token: a JWT for the API and userinfo, carrying the scopes granted.
    assert.ok(tokens.scope.split(' ').includes('read:items'), `token response scope "${tokens.scope}"`);
    const at = await verifyRs256(tokens.access_token);
    assert.equal(at.iss, server.issuer);
    assert.equal(at.sub, claims.sub);
    const aud = [].concat(at.aud);
    assert.ok(aud.includes(TENANT.audience), `aud ${JSON.stringify(at.aud)}`);
    assert.ok(aud.includes(new URL('userinfo', server.issuer).href), `aud ${JSON.stringify(at.aud)}`);
    assert.ok(at.scope.split(' ').includes('read:items'), `access token scope "${at.scope}"`);
    assert.ok(at.exp > Date.now() / 1000);

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(userinfo.sub, claims.sub);
    assert.equal(userinfo.email, TENANT.alice.email);
    assert.equal(userinfo.name, TENANT.alice.name);

    first = { browser, claims };
  });

  test('a returning browser goes straight to the callback (SSO, remembered consent)', async (t) => {
    if (!first) return t.skip('needs the first login');
    const config = await configure(TENANT.web);
    const { url, checks } = await authorizationRequest(config);
    const { callbackUrl, status, pages } = await authorizeOverHttp(first.browser, url, {});
    assert.deepEqual(pages, [], 'no hosted page is shown');
    assert.equal(status, 302, 'GET /authorize redirects with 302');
    const claims = (await client.authorizationCodeGrant(config, callbackUrl, checks)).claims();
    assert.equal(claims.sub, first.claims.sub);
    assert.equal(claims.sid, first.claims.sid, 'same SSO session');
    assert.equal(claims.auth_time, first.claims.auth_time, 'no new authentication');
    assert.equal(claims.nonce, checks.expectedNonce);
  });

  test('response_mode=form_post: the auto-submitting page carries the response; openid-client takes it as a POST', async (t) => {
    if (!first) return t.skip('needs the first login');
    const config = await configure(TENANT.web);
    const { url, checks } = await authorizationRequest(config, { response_mode: 'form_post' });
    const step = await first.browser.navigate(url);
    assert.ok(step.page, 'a page, not a redirect');
    assert.equal(step.response.status, 200);
    const form = parseForm(step.html);
    assert.equal(form.method, 'post');
    assert.equal(form.action, TENANT.redirectUri);
    assert.equal(form.hidden.state, checks.expectedState);
    assert.equal(form.hidden.iss, server.issuer);

    // The page's only script is allowed by the hash in its CSP, and nothing else is.
    const csp = step.response.headers.get('content-security-policy');
    const script = /<script>([\s\S]*?)<\/script>/.exec(step.html)?.[1];
    assert.ok(script, 'an inline script submits the form');
    const hash = createHash('sha256').update(script).digest('base64');
    assert.match(csp, new RegExp(`script-src 'sha256-${hash.replace(/[+/=]/g, '\\$&')}'`), csp);
    assert.match(csp, /default-src 'none'/);

    const request = new Request(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form.hidden),
    });
    const claims = (await client.authorizationCodeGrant(config, request, checks)).claims();
    assert.equal(claims.sub, first.claims.sub);
    assert.equal(claims.nonce, checks.expectedNonce);
  });

  test('a code redeemed twice is rejected with invalid_grant, and its tokens are revoked', async () => {
    const config = await configure(TENANT.web);
    const { url, checks } = await authorizationRequest(config);
    const { callbackUrl } = await authorizeOverHttp(new Browser(server.origin), url, alice);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, checks);
    const sub = tokens.claims().sub;
    assert.equal((await client.fetchUserInfo(config, tokens.access_token, sub)).sub, sub);
    await assert.rejects(client.authorizationCodeGrant(config, callbackUrl, checks), (err) => {
      assert.ok(err instanceof client.ResponseBodyError, `${err.name}: ${err.message}`);
      assert.equal(err.error, 'invalid_grant');
      assert.equal(err.status, 400);
      return true;
    });
    // RFC 6749 §4.1.2: the tokens issued for a replayed code should be revoked.
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, sub), (err) => {
      assert.equal(err.status, 401, `${err.name}: ${err.message}`);
      return true;
    });
  });

  test('a callback with the wrong state is rejected by openid-client', async () => {
    const config = await configure(TENANT.web);
    const { url, checks } = await authorizationRequest(config);
    const { callbackUrl } = await authorizeOverHttp(new Browser(server.origin), url, alice);
    await assert.rejects(
      client.authorizationCodeGrant(config, callbackUrl, { ...checks, expectedState: client.randomState() }),
      (err) => {
        assert.ok(err instanceof client.ClientError, `${err.name}: ${err.message}`);
        assert.equal(err.code, 'OAUTH_INVALID_RESPONSE');
        assert.match(err.cause?.message ?? '', /"state"/);
        return true;
      },
    );
    // The code was never sent: with the right state it still redeems.
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, checks);
    assert.equal(tokens.claims().nonce, checks.expectedNonce);
  });

  test('a wrong PKCE verifier is rejected with invalid_grant', async () => {
    const config = await configure(TENANT.web);
    const { url, checks } = await authorizationRequest(config);
    const { callbackUrl } = await authorizeOverHttp(new Browser(server.origin), url, alice);
    await assert.rejects(
      client.authorizationCodeGrant(config, callbackUrl, { ...checks, pkceCodeVerifier: client.randomPKCECodeVerifier() }),
      (err) => {
        assert.ok(err instanceof client.ResponseBodyError, `${err.name}: ${err.message}`);
        assert.equal(err.error, 'invalid_grant');
        return true;
      },
    );
  });

  test('a wrong password shows the login page again, with no session', async () => {
    const config = await configure(TENANT.web);
    const { url } = await authorizationRequest(config);
    const browser = new Browser(server.origin);
    const login = await browser.navigate(url);
    assert.equal(login.page.pathname, '/u/login');
    const again = await browser.submit(login.page, login.html, { username: alice.username, password: 'wrong password' });
    assert.ok(again.page, 'no redirect to the client');
    assert.equal(again.page.pathname, '/u/login');
    assert.match(again.html, /role="alert"/);
    assert.ok(!browser.jar.has('portcullis_session'));
  });

  test('declining consent returns access_denied, which openid-client reports', async () => {
    const config = await configure(TENANT.web);
    // prompt=consent: the consent page even though alice accepted earlier.
    const { url, checks } = await authorizationRequest(config, { prompt: 'consent' });
    const { callbackUrl, pages } = await authorizeOverHttp(new Browser(server.origin), url, { ...alice, consent: 'decline' });
    assert.deepEqual(pages, ['/u/login', '/u/consent']);
    assert.equal(callbackUrl.searchParams.get('error'), 'access_denied');
    assert.equal(callbackUrl.searchParams.get('state'), checks.expectedState);
    await assert.rejects(client.authorizationCodeGrant(config, callbackUrl, checks), (err) => {
      assert.ok(err instanceof client.AuthorizationResponseError, `${err.name}: ${err.message}`);
      assert.equal(err.error, 'access_denied');
      return true;
    });
  });

  test('prompt=none without a session returns login_required, which openid-client reports', async () => {
    const config = await configure(TENANT.web);
    const { url, checks } = await authorizationRequest(config, { prompt: 'none' });
    const { callbackUrl, pages, status } = await authorizeOverHttp(new Browser(server.origin), url, {});
    assert.deepEqual(pages, []);
    assert.equal(status, 302);
    assert.equal(callbackUrl.searchParams.get('state'), checks.expectedState);
    await assert.rejects(client.authorizationCodeGrant(config, callbackUrl, checks), (err) => {
      assert.ok(err instanceof client.AuthorizationResponseError, `${err.name}: ${err.message}`);
      assert.equal(err.error, 'login_required');
      return true;
    });
  });

  test('client_secret_post: the same flow for a client that authenticates in the body', async () => {
    const config = await configure(TENANT.post, client.ClientSecretPost(TENANT.post.clientSecret));
    const { url, checks } = await authorizationRequest(config);
    const { callbackUrl, pages } = await authorizeOverHttp(new Browser(server.origin), url, alice);
    assert.deepEqual(pages, ['/u/login', '/u/consent'], 'consent is per client');
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, checks);
    const claims = tokens.claims();
    assert.equal(claims.aud, TENANT.post.clientId);
    assert.equal(claims.email, TENANT.alice.email);
    assert.equal(claims.nonce, checks.expectedNonce);
    assert.ok(tokens.scope.split(' ').includes('read:items'));
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(userinfo.email, TENANT.alice.email);
  });

  test('a wrong client secret is rejected with invalid_client', async () => {
    const config = await configure(TENANT.web);
    const { url, checks } = await authorizationRequest(config);
    const { callbackUrl } = await authorizeOverHttp(new Browser(server.origin), url, alice);
    const wrong = await configure({ ...TENANT.web, clientSecret: 'not-the-secret-0123456789abcdefghijklmnop' });
    // A 401 with a WWW-Authenticate challenge for HTTP Basic (RFC 6749 §5.2), which
    // openid-client reports as such; the body still says invalid_client.
    const err = await client.authorizationCodeGrant(wrong, callbackUrl, checks).then(
      () => assert.fail('the grant succeeded with a wrong secret'),
      (e) => e,
    );
    assert.ok(err instanceof client.WWWAuthenticateChallengeError, `${err.name}: ${err.message}`);
    assert.equal(err.status, 401);
    assert.equal(err.cause[0].scheme, 'basic');
    assert.equal((await err.response.json()).error, 'invalid_client');
  });
});
