// Interoperability with a relying-party library we did not write: panva's openid-client (v6).
// It does discovery, builds the authorization URL (PKCE S256, state, nonce), redeems the
// code and validates the ID token (JWKS signature, iss, aud, exp, nonce) and the
// authorization response (state, iss). The hosted login and consent pages are walked over
// plain HTTP by hosted.mjs.
//
// Refresh tokens, revocation and logout are tested on a server of their own, each test with
// its own login: openid-client refreshes (rotation, down-scoping, reuse detection), revokes
// (RFC 7009) and builds the RP-initiated logout URL; the server's rate limit is checked on
// a server started with a tiny one.

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

/** openid-client's view of a server (by default the file's) for one of the tenant's clients. */
async function configure({ clientId, clientSecret }, auth = client.ClientSecretBasic(clientSecret), on = server) {
  return client.discovery(new URL(on.issuer), clientId, { client_secret: clientSecret }, auth, {
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

/** Asserts that `promise` fails as an OAuth error response with `error` (and `status`). */
async function rejectsWithOAuthError(promise, error, status = 400, message = undefined) {
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

/** Asserts that userinfo refuses `accessToken` with 401. */
async function userinfoRefuses(config, accessToken, message) {
  await assert.rejects(
    client.fetchUserInfo(config, accessToken, client.skipSubjectCheck),
    (err) => {
      assert.equal(err.status, 401, `${err.name}: ${err.message}`);
      return true;
    },
    message,
  );
}

describe('refresh tokens, revocation and logout with openid-client', () => {
  let own;

  before(async () => {
    own = await startServer();
  });

  after(async () => {
    await own?.stop();
  });

  /**
   * A fresh browser logs alice in with `offline_access` and redeems the code: the tokens,
   * with a refresh token. `creds` is one of the tenant's clients.
   */
  async function offlineLogin(creds = TENANT.web, auth = undefined) {
    const config = await configure(creds, auth, own);
    const { url, checks } = await authorizationRequest(config, { scope: `${SCOPE} offline_access` });
    const browser = new Browser(own.origin);
    const { callbackUrl } = await authorizeOverHttp(browser, url, alice);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, checks);
    assert.ok(tokens.refresh_token, `a refresh token is issued (scope "${tokens.scope}")`);
    assert.ok(tokens.scope.split(' ').includes('offline_access'), `scope "${tokens.scope}"`);
    return { config, browser, tokens, claims: tokens.claims() };
  }

  test('discovery has the revocation and end-session endpoints', async () => {
    const meta = (await configure(TENANT.web, undefined, own)).serverMetadata();
    assert.equal(meta.revocation_endpoint, new URL('oauth/revoke', own.issuer).href);
    assert.equal(meta.end_session_endpoint, new URL('oidc/logout', own.issuer).href);
  });

  test('without offline_access there is no refresh token', async () => {
    const config = await configure(TENANT.web, undefined, own);
    const { url, checks } = await authorizationRequest(config);
    const { callbackUrl } = await authorizeOverHttp(new Browser(own.origin), url, alice);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, checks);
    assert.equal(tokens.refresh_token, undefined);
  });

  test('a token request with an Origin header (a browser) gets no refresh token', async () => {
    const config = await configure(TENANT.web, undefined, own);
    config[client.customFetch] = (url, options) => {
      const headers = new Headers(options.headers);
      headers.set('origin', new URL(TENANT.redirectUri).origin);
      return fetch(url, { ...options, headers });
    };
    const { url, checks } = await authorizationRequest(config, { scope: `${SCOPE} offline_access` });
    const { callbackUrl } = await authorizeOverHttp(new Browser(own.origin), url, alice);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, checks);
    assert.ok(tokens.access_token);
    assert.equal(tokens.refresh_token, undefined);
  });

  test('refresh: a new access token that works at userinfo, a new refresh token, a valid ID token for the same login', async () => {
    const { config, tokens, claims } = await offlineLogin();
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);

    assert.equal(refreshed.token_type.toLowerCase(), 'bearer');
    assert.ok(refreshed.expires_in > 0);
    assert.ok(refreshed.refresh_token, 'a rotating client gets a new refresh token');
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.notEqual(refreshed.access_token, tokens.access_token);
    assert.equal(refreshed.scope, tokens.scope, 'no scope parameter: the scope granted');

    // openid-client validated the ID token (signature, iss, aud, exp, iat); the claims that
    // tie it to the original login (OIDC Core §12.2) are the same, and there is no nonce.
    const again = refreshed.claims();
    assert.ok(again, 'an ID token, since openid was granted');
    assert.equal(again.iss, own.issuer);
    assert.equal(again.sub, claims.sub);
    assert.equal(again.aud, claims.aud);
    assert.equal(again.auth_time, claims.auth_time);
    assert.equal(again.sid, claims.sid);
    assert.equal(again.nonce, undefined, 'a refreshed ID token has no nonce');
    assert.equal(again.email, TENANT.alice.email);
    const digest = createHash('sha256').update(refreshed.access_token).digest();
    assert.equal(again.at_hash, digest.subarray(0, 16).toString('base64url'));

    const at = decodeJwt(refreshed.access_token).payload;
    assert.equal(at.sub, claims.sub);
    assert.ok([].concat(at.aud).includes(TENANT.audience), `aud ${JSON.stringify(at.aud)}`);
    const userinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    assert.equal(userinfo.sub, claims.sub);
    assert.equal(userinfo.email, TENANT.alice.email);

    // The chain goes on with the new token.
    const third = await client.refreshTokenGrant(config, refreshed.refresh_token);
    assert.equal(third.claims().sub, claims.sub);
    assert.notEqual(third.refresh_token, refreshed.refresh_token);
  });

  test('a refresh with a narrower scope narrows the access token only; a wider one is invalid_scope', async () => {
    const { config, tokens } = await offlineLogin();
    const narrow = await client.refreshTokenGrant(config, tokens.refresh_token, { scope: 'read:items' });
    assert.equal(narrow.scope, 'read:items');
    const at = decodeJwt(narrow.access_token).payload;
    assert.equal(at.scope, 'read:items', 'the access token carries exactly the scope asked for');
    assert.equal([].concat(at.aud).join(' '), TENANT.audience, 'no userinfo audience without openid');
    assert.equal(narrow.id_token, undefined, 'no ID token without openid');
    assert.ok(narrow.refresh_token);

    // The refresh token keeps the scope originally granted (RFC 6749 §6).
    const full = await client.refreshTokenGrant(config, narrow.refresh_token);
    assert.equal(full.scope, tokens.scope);
    assert.equal(decodeJwt(full.access_token).payload.scope, tokens.scope);

    await rejectsWithOAuthError(
      client.refreshTokenGrant(config, full.refresh_token, { scope: `${tokens.scope} write:items` }),
      'invalid_scope',
    );
  });

  test('reusing a rotated refresh token is invalid_grant and revokes the family, the newer token too', async () => {
    const { config, tokens, claims } = await offlineLogin();
    const second = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.equal(await client.fetchUserInfo(config, second.access_token, claims.sub).then((u) => u.sub), claims.sub);

    await rejectsWithOAuthError(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant', 400, 'the rotated token');
    await rejectsWithOAuthError(client.refreshTokenGrant(config, second.refresh_token), 'invalid_grant', 400, 'the newer token');
    // ... and the access tokens minted from the family (docs/endpoints.md).
    await userinfoRefuses(config, second.access_token, 'the access token from the refresh');
    await userinfoRefuses(config, tokens.access_token, 'the access token from the code');
  });

  test('a replayed code revokes the refresh token issued for it', async () => {
    const config = await configure(TENANT.web, undefined, own);
    const { url, checks } = await authorizationRequest(config, { scope: `${SCOPE} offline_access` });
    const { callbackUrl } = await authorizeOverHttp(new Browser(own.origin), url, alice);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, checks);
    assert.ok(tokens.refresh_token);
    await rejectsWithOAuthError(client.authorizationCodeGrant(config, callbackUrl, checks), 'invalid_grant');
    await rejectsWithOAuthError(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant');
  });

  test('ten concurrent exchanges of one rotating token: exactly one succeeds, and the family is revoked', async () => {
    const { config, tokens } = await offlineLogin();
    // Ten exchanges empty the family's rate-limit bucket (a burst of ten): the eleventh
    // below is refused as revoked all the same, not 429.
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => client.refreshTokenGrant(config, tokens.refresh_token)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1, `successes: ${won.length}; failures: ${lost.map((r) => `${r.reason.status} ${r.reason.error}`).join(', ')}`);
    for (const { reason } of lost) {
      assert.equal(reason.error, 'invalid_grant', `${reason.name}: ${reason.message}`);
      assert.equal(reason.status, 400);
    }
    await rejectsWithOAuthError(client.refreshTokenGrant(config, won[0].value.refresh_token), 'invalid_grant');
  });

  test('a non-rotating client refreshes with the same token again and again', async () => {
    const post = client.ClientSecretPost(TENANT.post.clientSecret);
    const { config, tokens, claims } = await offlineLogin(TENANT.post, post);
    for (let i = 0; i < 3; i++) {
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      assert.equal(refreshed.refresh_token, undefined, 'no new refresh token: the old one stays valid');
      assert.equal(refreshed.claims().sub, claims.sub);
      assert.equal((await client.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub, claims.sub);
    }
  });

  test('tokenRevocation: the refresh token and the access tokens minted from it stop working', async () => {
    const { config, tokens, claims } = await offlineLogin();
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.equal((await client.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub, claims.sub);

    await client.tokenRevocation(config, refreshed.refresh_token);
    await rejectsWithOAuthError(client.refreshTokenGrant(config, refreshed.refresh_token), 'invalid_grant');
    await userinfoRefuses(config, refreshed.access_token, 'the access token from the refresh');
    await userinfoRefuses(config, tokens.access_token, 'the access token from the code');

    // RFC 7009 §2.2: revoking again, or an unknown token, is still 200.
    await client.tokenRevocation(config, refreshed.refresh_token);
    await client.tokenRevocation(config, client.randomState());
    // RFC 7009 §2.1: a token issued to another client is not revoked.
    const other = await offlineLogin(TENANT.post, client.ClientSecretPost(TENANT.post.clientSecret));
    await rejectsWithOAuthError(client.tokenRevocation(config, other.tokens.refresh_token), 'invalid_grant');
    assert.ok((await client.refreshTokenGrant(other.config, other.tokens.refresh_token)).access_token);
  });

  /** The path of the Location an /authorize request with exactly `cookie` is sent to. */
  async function authorizeWithCookie(config, cookie) {
    const { url } = await authorizationRequest(config);
    const response = await fetch(url, { headers: { cookie }, redirect: 'manual' });
    await response.body?.cancel();
    assert.equal(response.status, 302);
    return new URL(response.headers.get('location'), url);
  }

  test('RP-initiated logout: redirect with the state, the session ends server-side, its refresh tokens are revoked', async () => {
    const { config, browser, tokens } = await offlineLogin();
    const cookie = browser.jar.header();
    // While the session lives, /authorize goes straight back to the client.
    assert.equal((await authorizeWithCookie(config, cookie)).href.split('?')[0], TENANT.redirectUri);

    const state = client.randomState();
    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: TENANT.logoutUri,
      state,
    });
    assert.equal(endSession.origin + endSession.pathname, new URL('oidc/logout', own.issuer).href);
    const step = await browser.navigate(endSession);
    assert.ok(step.callback, `a redirect to the client, not a page (status ${step.response.status})`);
    assert.equal(step.response.status, 302);
    assert.equal(step.callback.origin + step.callback.pathname, TENANT.logoutUri);
    assert.equal(step.callback.searchParams.get('state'), state);
    assert.ok(!browser.jar.has('portcullis_session'), 'the session cookie is cleared');

    // The same browser is asked to log in again ...
    const { url } = await authorizationRequest(config);
    const login = await browser.navigate(url);
    assert.equal(login.page?.pathname, '/u/login');
    // ... and so is one that kept the old cookie: the session is gone server-side.
    assert.equal((await authorizeWithCookie(config, cookie)).pathname, '/u/login');

    await rejectsWithOAuthError(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant');
  });

  test('RP-initiated logout without id_token_hint asks the user to confirm', async () => {
    const { config, browser, tokens } = await offlineLogin();
    const state = client.randomState();
    const endSession = client.buildEndSessionUrl(config, { post_logout_redirect_uri: TENANT.logoutUri, state });
    const confirm = await browser.navigate(endSession);
    assert.equal(confirm.response.status, 200, 'a page, not a redirect');
    const form = parseForm(confirm.html);
    const button = form.buttons.find((b) => b.text === 'Log out');
    assert.ok(button, `a "Log out" button among ${JSON.stringify(form.buttons)}`);
    // Nothing has ended yet (and the chain goes on with the rotated token).
    const { refresh_token: current } = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(current);

    const done = await browser.submit(confirm.page, confirm.html, button.name ? { [button.name]: button.value } : {});
    assert.ok(done.callback, `a redirect to the client (status ${done.response.status})`);
    assert.equal(done.callback.origin + done.callback.pathname, TENANT.logoutUri);
    assert.equal(done.callback.searchParams.get('state'), state);
    await rejectsWithOAuthError(client.refreshTokenGrant(config, current), 'invalid_grant');
  });

  test('Auth0 /v2/logout?client_id&returnTo ends the session the same way; an unregistered returnTo is refused', async () => {
    const { config, browser, tokens } = await offlineLogin();
    const cookie = browser.jar.header();
    const logout = new URL('v2/logout', own.issuer);
    logout.search = new URLSearchParams({ client_id: TENANT.web.clientId, returnTo: TENANT.logoutUri }).toString();
    const step = await browser.navigate(logout);
    assert.equal(step.response.status, 302);
    assert.equal(step.callback?.href, TENANT.logoutUri);
    assert.equal((await authorizeWithCookie(config, cookie)).pathname, '/u/login');
    await rejectsWithOAuthError(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant');

    logout.searchParams.set('returnTo', 'https://evil.example/');
    const refused = await browser.navigate(logout);
    assert.equal(refused.response.status, 400, 'an error page, never a redirect');
  });
});

describe('refresh rate limit', () => {
  let limited;

  before(async () => {
    // A tiny bucket: three exchanges at once, then one a minute.
    limited = await startServer({
      env: { PORTCULLIS_RATE_LIMITS__REFRESH_BURST: '3', PORTCULLIS_RATE_LIMITS__REFRESH_PER_MINUTE: '1' },
    });
  });

  after(async () => {
    await limited?.stop();
  });

  test('per refresh token: past the burst, 429 too_many_requests with x-ratelimit-* headers', async () => {
    const auth = client.ClientSecretPost(TENANT.post.clientSecret);
    const config = await configure(TENANT.post, auth, limited);
    const login = async () => {
      const { url, checks } = await authorizationRequest(config, { scope: `${SCOPE} offline_access` });
      const { callbackUrl } = await authorizeOverHttp(new Browser(limited.origin), url, alice);
      return client.authorizationCodeGrant(config, callbackUrl, checks);
    };
    const tokens = await login();
    for (let i = 0; i < 3; i++) await client.refreshTokenGrant(config, tokens.refresh_token);
    const err = await client.refreshTokenGrant(config, tokens.refresh_token).then(
      () => assert.fail('a fourth exchange within the minute succeeded'),
      (e) => e,
    );
    assert.ok(err instanceof client.ResponseBodyError, `${err.name}: ${err.message}`);
    assert.equal(err.status, 429);
    assert.equal(err.error, 'too_many_requests');
    const headers = err.response.headers;
    assert.equal(headers.get('x-ratelimit-limit'), '3');
    assert.equal(headers.get('x-ratelimit-remaining'), '0');
    const reset = Number(headers.get('x-ratelimit-reset'));
    assert.ok(reset > Date.now() / 1000 && reset < Date.now() / 1000 + 120, `x-ratelimit-reset ${reset}`);

    // The bucket is per token: another login's token is not limited.
    const other = await login();
    assert.ok((await client.refreshTokenGrant(config, other.refresh_token)).access_token);
  });
});
