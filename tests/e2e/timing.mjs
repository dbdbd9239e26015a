// Wall time of complete login flows over plain HTTP (not part of the test suite).
//
//   cargo build --release -p portcullis
//   PORTCULLIS_TEST_BIN=target/release/portcullis node tests/e2e/timing.mjs [N] [--cheap-passwords]
//
// Starts its own server the way the tests do, but with the server's default (OWASP) Argon2
// cost unless --cheap-passwords is given. Then:
//   - N first-time flows, each with a fresh cookie jar: GET /authorize → login page → POST
//     /u/login → consent page → POST /u/consent (accept; prompt=consent so the page is shown
//     every time) → callback with a code → POST /oauth/token (client_secret_basic);
//   - N returning-user flows in one logged-in cookie jar: GET /authorize → callback with a
//     code → POST /oauth/token.
// Prints median, p95 and mean per full flow, and the median of each request. Only loopback
// traffic; both loops are bounded by N.

import { Browser, authorizeOverHttp } from './hosted.mjs';
import { TENANT, binaryPath, startServer } from './server.mjs';

const args = process.argv.slice(2);
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 200);
const cheapPasswords = args.includes('--cheap-passwords');
const WARMUP = 5;

const alice = { username: TENANT.alice.email, password: TENANT.alice.password };
const basic = `Basic ${Buffer.from(
  `${encodeURIComponent(TENANT.web.clientId)}:${encodeURIComponent(TENANT.web.clientSecret)}`,
).toString('base64')}`;

function b64url(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

async function authorizationRequest(issuer, extra = {}) {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const url = new URL('authorize', issuer);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: TENANT.web.clientId,
    redirect_uri: TENANT.redirectUri,
    scope: 'openid profile email read:items',
    audience: TENANT.audience,
    state,
    nonce: b64url(crypto.getRandomValues(new Uint8Array(16))),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return { url, verifier, state };
}

async function redeem(issuer, callbackUrl, { verifier, state }) {
  if (callbackUrl.searchParams.get('state') !== state) throw new Error(`state mismatch in ${callbackUrl}`);
  const code = callbackUrl.searchParams.get('code');
  if (!code) throw new Error(`no code in ${callbackUrl}`);
  const started = performance.now();
  const response = await fetch(new URL('oauth/token', issuer), {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: TENANT.redirectUri,
      code_verifier: verifier,
    }),
  });
  const body = await response.json();
  const ms = performance.now() - started;
  if (response.status !== 200 || !body.id_token || !body.access_token) {
    throw new Error(`token endpoint: ${response.status} ${JSON.stringify(body)}`);
  }
  return ms;
}

/** One flow; returns its wall time and the time of each request. */
async function flow(issuer, browser, { expectPages, extra }) {
  const request = await authorizationRequest(issuer, extra);
  const from = browser.timings.length;
  const started = performance.now();
  const { callbackUrl, pages } = await authorizeOverHttp(browser, request.url, alice);
  const tokenMs = await redeem(issuer, callbackUrl, request);
  const total = performance.now() - started;
  if (pages.join(' ') !== expectPages.join(' ')) {
    throw new Error(`expected pages [${expectPages}], got [${pages}]`);
  }
  const steps = browser.timings.slice(from).map((t) => [`${t.method} ${t.path}`, t.ms]);
  steps.push(['POST /oauth/token', tokenMs]);
  return { total, steps };
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  return {
    median,
    p95: at(0.95),
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

const fmt = (ms) => ms.toFixed(2).padStart(8);

function report(title, runs) {
  const s = stats(runs.map((r) => r.total));
  console.log(`\n${title} (N=${runs.length})`);
  console.log(`  full flow    median ${fmt(s.median)} ms   p95 ${fmt(s.p95)} ms   mean ${fmt(s.mean)} ms   min ${fmt(s.min)} ms   max ${fmt(s.max)} ms`);
  const byStep = new Map();
  for (const run of runs) {
    for (const [step, ms] of run.steps) {
      if (!byStep.has(step)) byStep.set(step, []);
      byStep.get(step).push(ms);
    }
  }
  for (const [step, values] of byStep) {
    const t = stats(values);
    console.log(`  ${step.padEnd(22)} median ${fmt(t.median)} ms   p95 ${fmt(t.p95)} ms`);
  }
}

if (!Number.isInteger(N) || N < 1) throw new Error(`N must be a positive integer, got ${N}`);
const server = await startServer({ cheapPasswords, readyTimeoutMs: 120_000 });
try {
  console.log(`Portcullis ${binaryPath()} at ${server.issuer}`);
  console.log(`Argon2 cost: ${cheapPasswords ? 'cheap (1024 KiB, 1 pass)' : 'server default (OWASP)'}; ${WARMUP} warm-up flows of each kind not counted`);

  const firstTime = { expectPages: ['/u/login', '/u/consent'], extra: { prompt: 'consent' } };
  for (let i = 0; i < WARMUP; i++) await flow(server.issuer, new Browser(server.origin), firstTime);
  const fresh = [];
  for (let i = 0; i < N; i++) fresh.push(await flow(server.issuer, new Browser(server.origin), firstTime));
  report('First-time flow: fresh cookie jar, login, consent, code, token', fresh);

  const returningBrowser = new Browser(server.origin);
  await flow(server.issuer, returningBrowser, firstTime); // logs in once
  const returning = { expectPages: [], extra: {} };
  for (let i = 0; i < WARMUP; i++) await flow(server.issuer, returningBrowser, returning);
  const again = [];
  for (let i = 0; i < N; i++) again.push(await flow(server.issuer, returningBrowser, returning));
  report('Returning user: SSO session, remembered consent, code, token', again);
} finally {
  await server.stop();
}
