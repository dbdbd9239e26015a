// A real browser on the hosted pages: playwright-core drives Debian's Chromium through the
// login and consent pages by their labels and button names, as a person would. The client's
// callback (http://127.0.0.1:8976/callback) is served by a tiny HTTP server in this file.
// Screenshots of the login and consent pages go to artifacts/; with UPDATE_SCREENSHOTS=1
// they replace the ones in docs/images/ (the README shows them).

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import { E2E_DIR, REPO_ROOT, TENANT, startServer } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const IMAGES = process.env.UPDATE_SCREENSHOTS === '1' ? join(REPO_ROOT, 'docs', 'images') : join(E2E_DIR, 'artifacts');
const ARTIFACTS = join(E2E_DIR, 'artifacts');
const CALLBACK = new URL(TENANT.redirectUri);

let app;
let server;
let browser;
let context;
let config;
/** Every URL the context requested, in order. */
const requested = [];
/** The bodies of the POST requests the callback received (response_mode=form_post). */
const posted = [];

before(async () => {
  app = await startCallbackServer();
  server = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // A new context: no cookies, no storage, nothing from any earlier run.
  context = await browser.newContext({ viewport: { width: 900, height: 720 }, locale: 'en-US' });
  context.on('request', (request) => requested.push(request.url()));
  config = await client.discovery(
    new URL(server.issuer),
    TENANT.web.clientId,
    { client_secret: TENANT.web.clientSecret },
    client.ClientSecretBasic(TENANT.web.clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
});

after(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
  app?.closeAllConnections();
  await new Promise((resolve) => (app ? app.close(resolve) : resolve()));
});

/**
 * The application's side: a tiny page at the callback URL. (A context.route() handler is no
 * substitute: with playwright-core 1.65 and Chromium 156 the request that follows a
 * redirect went to the network unrouted and failed with ERR_CONNECTION_REFUSED.)
 */
async function startCallbackServer() {
  const app = createServer((req, res) => {
    if (new URL(req.url, CALLBACK).pathname !== CALLBACK.pathname) {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.method === 'POST') posted.push({ contentType: req.headers['content-type'], body });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>E2E Web App</title><h1>Signed in to E2E Web App</h1>');
    });
  });
  await new Promise((resolve, reject) => {
    app.once('error', (err) =>
      reject(new Error(`cannot listen on ${CALLBACK.host} for the client's callback: ${err.message}`)),
    );
    app.listen(Number(CALLBACK.port), CALLBACK.hostname, resolve);
  });
  return app;
}

async function authorizationRequest(extra = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const checks = { pkceCodeVerifier, expectedState: client.randomState(), expectedNonce: client.randomNonce() };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: TENANT.redirectUri,
    scope: 'openid profile email read:items',
    audience: TENANT.audience,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: checks.expectedState,
    nonce: checks.expectedNonce,
    ...extra,
  });
  return { url, checks };
}

/** Runs `fn`; on failure keeps the page's screenshot and HTML and the server's log in artifacts/. */
async function keepingArtifacts(page, name, fn) {
  try {
    return await fn();
  } catch (err) {
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true }).catch(() => {});
    await writeFile(join(ARTIFACTS, `${name}.html`), await page.content().catch(() => '')).catch(() => {});
    await writeFile(join(ARTIFACTS, `${name}.server.log`), server.logs()).catch(() => {});
    throw err;
  }
}

function assertCallback(pageUrl, checks) {
  const url = new URL(pageUrl);
  assert.equal(url.origin + url.pathname, TENANT.redirectUri, `landed on ${pageUrl}`);
  assert.ok(url.searchParams.get('code'), 'code');
  assert.equal(url.searchParams.get('state'), checks.expectedState);
  assert.equal(url.searchParams.get('iss'), server.issuer);
  return url;
}

describe('Chromium on the hosted pages', () => {
  let loggedIn = false;

  test('login and consent by label and button, landing on the callback with a code', async () => {
    const page = await context.newPage();
    await keepingArtifacts(page, 'first-login', async () => {
      const { url, checks } = await authorizationRequest();

      const response = await page.goto(url.href);
      assert.ok(response, 'a navigation response');
      assert.equal(new URL(page.url()).pathname, '/u/login');
      assert.equal(response.status(), 200);
      const headers = response.headers();
      assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      assert.equal(headers['x-frame-options'], 'DENY');
      assert.equal(await page.title(), 'Log in | E2E Web App');

      await mkdir(IMAGES, { recursive: true });
      await page.screenshot({ path: join(IMAGES, 'login.png') });

      await page.getByLabel('Email').fill(TENANT.alice.email);
      await page.getByLabel('Password').fill(TENANT.alice.password);
      await page.getByRole('button', { name: 'Continue' }).click();

      await page.waitForURL((u) => u.pathname === '/u/consent');
      await assert.doesNotReject(page.getByText('read:items').waitFor());
      await page.screenshot({ path: join(IMAGES, 'consent.png') });
      await page.getByRole('button', { name: 'Accept' }).click();

      await page.waitForURL((u) => u.origin === CALLBACK.origin && u.pathname === CALLBACK.pathname);
      const callback = assertCallback(page.url(), checks);
      assert.equal(await page.locator('h1').textContent(), 'Signed in to E2E Web App');

      // The code the browser carried is good: openid-client redeems it and checks the ID token.
      const tokens = await client.authorizationCodeGrant(config, callback, checks);
      assert.equal(tokens.claims().email, TENANT.alice.email);
      assert.equal(tokens.claims().nonce, checks.expectedNonce);

      const cookies = await context.cookies(server.origin);
      for (const name of ['portcullis_session', 'portcullis_browser']) {
        const cookie = cookies.find((c) => c.name === name);
        assert.ok(cookie, `${name} among ${cookies.map((c) => c.name).join(', ')}`);
        assert.equal(cookie.httpOnly, true, `${name} is HttpOnly`);
        assert.equal(cookie.sameSite, 'Lax', `${name} is SameSite=Lax`);
        assert.equal(cookie.path, '/');
      }
      loggedIn = true;
    });
    await page.close();
  });

  test('a second authorization in the same browser goes straight to the callback', async (t) => {
    if (!loggedIn) return t.skip('needs the first login');
    const page = await context.newPage();
    await keepingArtifacts(page, 'returning', async () => {
      const { url, checks } = await authorizationRequest();
      const from = requested.length;
      await page.goto(url.href);
      await page.waitForURL((u) => u.origin === CALLBACK.origin && u.pathname === CALLBACK.pathname);
      const callback = assertCallback(page.url(), checks);

      const during = requested.slice(from).map((u) => new URL(u).pathname);
      assert.ok(!during.includes('/u/login'), `no login page: ${during.join(' → ')}`);
      assert.ok(!during.includes('/u/consent'), `no consent page: ${during.join(' → ')}`);

      const tokens = await client.authorizationCodeGrant(config, callback, checks);
      assert.equal(tokens.claims().email, TENANT.alice.email);
    });
    await page.close();
  });

  test('response_mode=form_post: the page posts the code to the callback; its CSP lets its script run', async (t) => {
    if (!loggedIn) return t.skip('needs the first login');
    const page = await context.newPage();
    const cspViolations = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    await keepingArtifacts(page, 'form-post', async () => {
      const { url, checks } = await authorizationRequest({ response_mode: 'form_post' });
      const from = posted.length;
      await page.goto(url.href);
      await page.waitForURL((u) => u.origin === CALLBACK.origin && u.pathname === CALLBACK.pathname);
      assert.deepEqual(cspViolations, []);
      assert.equal(posted.length, from + 1, 'the callback received one POST');
      const { contentType, body } = posted[from];
      assert.match(contentType, /^application\/x-www-form-urlencoded/);
      const params = new URLSearchParams(body);
      assert.ok(params.get('code'));
      assert.equal(params.get('state'), checks.expectedState);
      assert.equal(params.get('iss'), server.issuer);

      // openid-client takes the POST as a Request, as a web framework would hand it over.
      const request = new Request(TENANT.redirectUri, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      });
      const tokens = await client.authorizationCodeGrant(config, request, checks);
      assert.equal(tokens.claims().nonce, checks.expectedNonce);
    });
    await page.close();
  });
});
