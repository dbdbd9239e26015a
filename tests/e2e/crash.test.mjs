// Crash safety: a node is killed with SIGKILL while it serves logins, code exchanges and
// refresh rotations, then started again on the same database (SQLite, and PostgreSQL when
// PORTCULLIS_TEST_POSTGRES_URL is set). Nothing that was acknowledged is lost: an issued
// refresh token still works, a redeemed code stays redeemed, a rotated refresh token stays
// refused; and the database opens without repair (on SQLite, `pragma integrity_check`).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import * as client from 'openid-client';

import { codeFor, codeForm, tokenAt, webApp } from './flows.mjs';
import { Browser } from './hosted.mjs';
import { TENANT, freePort, freshPostgresDatabase, startServer } from './server.mjs';

const OFFLINE = { scope: 'openid offline_access read:items', audience: TENANT.audience };

/** What a client was told: redeemed codes, rotated (used) tokens, and each chain's latest. */
function ledger() {
  return { redeemed: [], rotated: [], latest: [] };
}

/**
 * Chains the load may start. Every chain is a refresh family of the same user and client,
 * and past 200 active families the oldest are revoked (Auth0's limit): the chains at rest
 * first, which this test expects to work after the crash. A fast node started more than
 * 196 chains in the load's 1.5 s, so the load stops starting new ones well before that.
 */
const LOAD_CHAINS = 150;

/** Rotates `token` once, recording the acknowledged rotation in `book`; returns the new token. */
async function rotate(node, token, book) {
  const r = await tokenAt(node.direct, { grant_type: 'refresh_token', refresh_token: token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  book.rotated.push(token);
  return r.body.refresh_token;
}

/**
 * Redeems a fresh code for a refresh chain and rotates it `rotations` times, recording each
 * acknowledged step in `book`. Returns the chain's latest token.
 */
async function chain(node, config, browser, book, rotations) {
  const got = await codeFor(browser, config, OFFLINE);
  const tokens = await client.authorizationCodeGrant(config, got.callbackUrl, got.checks);
  book.redeemed.push(codeForm(got));
  let token = tokens.refresh_token;
  for (let i = 0; i < rotations; i++) token = await rotate(node, token, book);
  return token;
}

/**
 * Keeps `node` busy until it dies: logins, code exchanges and rotations while the load may
 * start chains, then rotations of its last one. Records what the node acknowledged.
 */
async function load(node, config, book) {
  const browser = new Browser(node.origin);
  try {
    let token;
    while (book.latest.length < LOAD_CHAINS) {
      token = await chain(node, config, browser, book, 3);
      book.latest.push(token);
    }
    for (;;) token = await rotate(node, token, book);
  } catch {
    // the node was killed mid-request: what it acknowledged is in `book`
  }
}

async function crashAndRestart(database, check = async () => {}) {
  const port = await freePort();
  let node = await startServer({ database, port });
  const config = await webApp(node.issuer);
  // Acknowledged before the load: chains at rest when the node dies.
  const atRest = ledger();
  const browser = new Browser(node.origin);
  for (let i = 0; i < 4; i++) atRest.latest.push(await chain(node, config, browser, atRest, 2));
  // Under load, then SIGKILL in the middle of it.
  const busy = ledger();
  const workers = Array.from({ length: 6 }, () => load(node, config, busy));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await node.kill();
  await Promise.all(workers);
  assert.ok(busy.rotated.length > 10, `the load ran (${busy.rotated.length} rotations acknowledged)`);
  await check();

  node = await startServer({ database, port });
  try {
    // An issued refresh token still works (chains at rest: nothing was in flight for them).
    for (const token of atRest.latest) {
      const r = await tokenAt(node.direct, { grant_type: 'refresh_token', refresh_token: token });
      assert.equal(r.status, 200, `an acknowledged refresh token works after the crash: ${JSON.stringify(r.body)}`);
    }
    // A redeemed code stays redeemed; a rotated token stays refused (before and under load).
    for (const form of [...atRest.redeemed, ...busy.redeemed]) {
      const r = await tokenAt(node.direct, form);
      assert.equal(r.status, 400, 'a redeemed code stays redeemed');
      assert.equal(r.body.error, 'invalid_grant');
    }
    for (const token of [...atRest.rotated, ...busy.rotated]) {
      const r = await tokenAt(node.direct, { grant_type: 'refresh_token', refresh_token: token });
      assert.equal(r.status, 400, 'a rotated refresh token stays refused');
      assert.equal(r.body.error, 'invalid_grant');
    }
    // And the restarted node serves new logins.
    const got = await codeFor(new Browser(node.origin), config, OFFLINE);
    assert.equal((await tokenAt(node.direct, codeForm(got))).status, 200);
  } finally {
    await node.stop();
  }
}

describe('kill -9 under load, then restart on the same database', () => {
  test('SQLite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-crash-'));
    const file = join(dir, 'crash.db');
    try {
      await crashAndRestart(`sqlite://${file}`, async () => {
        // The files as the crash left them (WAL included) open cleanly and are consistent.
        const script = 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])';
        assert.equal(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }).trim(), 'ok');
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('PostgreSQL', async (t) => {
    const database = await freshPostgresDatabase();
    if (!database) {
      t.skip('PORTCULLIS_TEST_POSTGRES_URL is not set');
      return;
    }
    await crashAndRestart(database);
  });
});
