// Refresh-token throughput over plain HTTP (not part of the test suite).
//
//   cargo build --release -p portcullis
//   PORTCULLIS_TEST_BIN=target/release/portcullis node tests/e2e/refresh-bench.mjs [SECONDS] [--rotating-only]
//
// Starts its own server the way the tests do (fresh SQLite database in a temporary
// directory, tests/e2e/tenant.yaml), with two settings of its own:
//   - the refresh rate limit raised out of the way: PORTCULLIS_RATE_LIMITS__REFRESH_BURST=1000000
//     and PORTCULLIS_RATE_LIMITS__REFRESH_PER_MINUTE=1000000 (the default, 10 at once and
//     30/min per refresh token and client IP, would turn a non-rotating loop into 429s);
//   - cheap Argon2 (1 MiB, 1 pass): logins only set the benchmark up, they are not measured.
// Then:
//   - 32 logins to e2e-web (rotating refresh tokens, client_secret_basic), each with a fresh
//     cookie jar and scope `openid profile email read:items offline_access`: 32 independent
//     refresh-token families;
//   - for each concurrency level C in 1, 8, 32: C concurrent loops for SECONDS seconds
//     (default 10, 1 to 60), loop i rotating family i's chain — POST /oauth/token
//     grant_type=refresh_token, keep the new refresh token, again. A loop whose exchange fails
//     stops (its chain may be gone: a retry with the old token would be reuse);
//   - unless --rotating-only: the same with e2e-post (non-rotating, client_secret_post), each
//     loop presenting its own unchanging refresh token.
// One warm-up second at C=8 precedes each series and is not counted. Prints per level:
// refreshes/s, p50/p95/p99 latency (request sent to JSON body parsed), errors, and the CPU
// seconds used by the server and by this load generator. Both share the machine's cores.
// Only loopback traffic; every request has a 10 s timeout, so the run is bounded by about
// (3 × SECONDS + 1) per series plus 64 logins.

import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

import { Browser, authorizeOverHttp } from './hosted.mjs';
import { TENANT, binaryPath, startServer } from './server.mjs';

const args = process.argv.slice(2);
const SECONDS = Number(args.find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 10);
const ROTATING_ONLY = args.includes('--rotating-only');
const LEVELS = [1, 8, 32];
const WARMUP_SECONDS = 1;
const REQUEST_TIMEOUT_MS = 10_000;
const SCOPE = 'openid profile email read:items offline_access';

if (!(SECONDS >= 1 && SECONDS <= 60)) throw new Error(`SECONDS must be between 1 and 60, got ${SECONDS}`);

const alice = { username: TENANT.alice.email, password: TENANT.alice.password };
const basic = ({ clientId, clientSecret }) =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;

/** How each client authenticates at the token endpoint. */
const CLIENTS = {
  rotating: { creds: TENANT.web, headers: { authorization: basic(TENANT.web) }, body: {} },
  nonRotating: {
    creds: TENANT.post,
    headers: {},
    body: { client_id: TENANT.post.clientId, client_secret: TENANT.post.clientSecret },
  },
};

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

/** POST a form over a kept-alive connection; resolves with { status, json }. */
function postForm(url, form, headers) {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          ...headers,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          accept: 'application/json',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode, json: JSON.parse(text) });
          } catch {
            resolve({ status: res.statusCode, json: { error: 'unparsable', body: text.slice(0, 200) } });
          }
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timeout after ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function b64url(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

/** One login with a fresh cookie jar; returns the refresh token. */
async function login(server, client) {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const url = new URL('authorize', server.issuer);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.creds.clientId,
    redirect_uri: TENANT.redirectUri,
    scope: SCOPE,
    audience: TENANT.audience,
    state,
    nonce: b64url(crypto.getRandomValues(new Uint8Array(16))),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  const { callbackUrl } = await authorizeOverHttp(new Browser(server.origin), url, alice);
  if (callbackUrl.searchParams.get('state') !== state) throw new Error(`state mismatch in ${callbackUrl}`);
  const { status, json } = await postForm(
    new URL('oauth/token', server.issuer),
    {
      grant_type: 'authorization_code',
      code: callbackUrl.searchParams.get('code'),
      redirect_uri: TENANT.redirectUri,
      code_verifier: verifier,
      ...client.body,
    },
    client.headers,
  );
  if (status !== 200 || !json.refresh_token) {
    throw new Error(`code exchange: ${status} ${JSON.stringify(json)} (no refresh token?)`);
  }
  return json.refresh_token;
}

/** The server's CPU seconds (user + system), read from /proc; undefined where unavailable. */
function serverCpuSeconds() {
  try {
    const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/);
    let ticks = 0;
    for (const pid of children.filter(Boolean)) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    }
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

function ownCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * Runs `concurrency` loops for `seconds`, loop i on chains[i] (updated in place when the
 * client rotates). Returns the latencies of the successful exchanges, the errors and the
 * wall time until the last loop finished.
 */
async function run(server, client, chains, concurrency, seconds) {
  const tokenUrl = new URL('oauth/token', server.issuer);
  const latencies = [];
  const errors = new Map();
  let stoppedLoops = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = async (i) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      let outcome;
      try {
        const { status, json } = await postForm(
          tokenUrl,
          { grant_type: 'refresh_token', refresh_token: chains[i], ...client.body },
          client.headers,
        );
        if (status === 200 && json.access_token) {
          latencies.push(performance.now() - t0);
          if (json.refresh_token) chains[i] = json.refresh_token;
          continue;
        }
        outcome = `${status} ${json.error ?? ''}`.trim();
      } catch (err) {
        outcome = err.message;
      }
      errors.set(outcome, (errors.get(outcome) ?? 0) + 1);
      stoppedLoops++;
      return;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  return { latencies, errors, stoppedLoops, wallMs: performance.now() - started };
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const ms = (v) => `${v.toFixed(2).padStart(7)} ms`;

async function series(server, title, client, chains) {
  console.log(`\n${title}`);
  await run(server, client, chains, Math.min(8, chains.length), WARMUP_SECONDS);
  for (const c of LEVELS) {
    const serverCpu0 = serverCpuSeconds();
    const ownCpu0 = ownCpuSeconds();
    const { latencies, errors, stoppedLoops, wallMs } = await run(server, client, chains, c, SECONDS);
    const serverCpu = serverCpu0 === undefined ? undefined : serverCpuSeconds() - serverCpu0;
    const ownCpu = ownCpuSeconds() - ownCpu0;
    const sorted = latencies.sort((a, b) => a - b);
    const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
    const rate = latencies.length / (wallMs / 1000);
    console.log(
      `  C=${String(c).padEnd(3)} ${String(latencies.length).padStart(7)} refreshes in ${(wallMs / 1000).toFixed(2)} s` +
        `  ${rate.toFixed(1).padStart(7)} req/s` +
        `  p50 ${ms(percentile(sorted, 0.5))}  p95 ${ms(percentile(sorted, 0.95))}  p99 ${ms(percentile(sorted, 0.99))}` +
        `  errors ${errorCount}` +
        `  cpu server ${serverCpu === undefined ? '?' : serverCpu.toFixed(1)} s, load generator ${ownCpu.toFixed(1)} s`,
    );
    if (errorCount > 0) {
      const kinds = [...errors].map(([k, n]) => `${n}× ${k}`).join('; ');
      console.log(`         errors: ${kinds}; loops stopped: ${stoppedLoops} of ${c}`);
    }
  }
}

const server = await startServer({
  cheapPasswords: true,
  readyTimeoutMs: 120_000,
  env: {
    PORTCULLIS_RATE_LIMITS__REFRESH_BURST: '1000000',
    PORTCULLIS_RATE_LIMITS__REFRESH_PER_MINUTE: '1000000',
  },
});
try {
  const chainsNeeded = Math.max(...LEVELS);
  console.log(`Portcullis ${binaryPath()} at ${server.issuer}`);
  console.log(
    `${SECONDS} s per level, levels ${LEVELS.join(', ')}; refresh rate limit raised to 1000000 at once and per minute; ` +
      `Argon2 cheap (logins are setup only); ${chainsNeeded} logins per client`,
  );

  const rotating = [];
  for (let i = 0; i < chainsNeeded; i++) rotating.push(await login(server, CLIENTS.rotating));
  await series(server, 'Rotating (e2e-web, client_secret_basic): each loop rotates its own chain', CLIENTS.rotating, rotating);

  if (!ROTATING_ONLY) {
    const fixed = [];
    for (let i = 0; i < chainsNeeded; i++) fixed.push(await login(server, CLIENTS.nonRotating));
    await series(
      server,
      'Non-rotating (e2e-post, client_secret_post): each loop presents its own token again and again',
      CLIENTS.nonRotating,
      fixed,
    );
  }
} finally {
  agent.destroy();
  await server.stop();
}
