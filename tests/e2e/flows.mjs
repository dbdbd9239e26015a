// The authorization code flow of the tenant's web app (e2e-web), as the multi-node and crash
// tests drive it: openid-client builds the request and redeems the code, the hosted pages
// are walked over HTTP, and token requests can go to one node's own address.

import * as client from 'openid-client';

import { authorizeOverHttp } from './hosted.mjs';
import { TENANT } from './server.mjs';

/** openid-client's view of the web app at `issuer`. */
export async function webApp(issuer) {
  return client.discovery(new URL(issuer), TENANT.web.clientId, { client_secret: TENANT.web.clientSecret }, client.ClientSecretBasic(TENANT.web.clientSecret), {
    execute: [client.allowInsecureRequests],
  });
}

/**
 * A code for the web app from `browser` (logging Alice in and consenting when asked), with
 * the checks openid-client needs to redeem it and the pages shown on the way.
 */
export async function codeFor(browser, config, params = {}) {
  const checks = { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: client.randomState(), expectedNonce: client.randomNonce() };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: TENANT.redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(checks.pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: checks.expectedState,
    nonce: checks.expectedNonce,
    ...params,
  });
  const { callbackUrl, pages } = await authorizeOverHttp(browser, url, { username: TENANT.alice.email, password: TENANT.alice.password });
  return { callbackUrl, pages, checks, code: callbackUrl.searchParams.get('code') };
}

/** The token request that redeems `got` (from codeFor) by hand. */
export function codeForm(got) {
  return { grant_type: 'authorization_code', code: got.code, redirect_uri: TENANT.redirectUri, code_verifier: got.checks.pkceCodeVerifier };
}

/**
 * POST /oauth/token at `origin` (a node's own address), authenticated as the web app unless
 * `basic` names other credentials (or is null: the form authenticates). Returns the status
 * and the JSON body.
 */
export async function tokenAt(origin, form, basic = [TENANT.web.clientId, TENANT.web.clientSecret]) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (basic) headers.authorization = `Basic ${Buffer.from(basic.join(':')).toString('base64')}`;
  const response = await fetch(new URL('/oauth/token', origin), { method: 'POST', headers, body: new URLSearchParams(form) });
  return { status: response.status, body: await response.json() };
}
