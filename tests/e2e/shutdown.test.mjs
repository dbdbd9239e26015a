// Graceful shutdown: on SIGTERM a node stops accepting connections at once, finishes the
// requests it has in flight, and exits 0. The in-flight requests here are Management API
// user creations, each an Argon2id hash at the default (OWASP) cost, queued behind the
// node's bounded hashing pool, so they are still running when the signal arrives.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { tokenAt } from './flows.mjs';
import { startServer } from './server.mjs';

/** GET `url` on a new connection: resolves to the status, or rejects (e.g. ECONNREFUSED). */
function freshGet(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}

test('SIGTERM: no new connections, the requests in flight finish, exit 0', async () => {
  const server = await startServer({ cheapPasswords: false });
  try {
    const m = server.management;
    const { status, body } = await tokenAt(server.origin, { grant_type: 'client_credentials', client_id: m.clientId, client_secret: m.clientSecret, audience: m.audience }, null);
    assert.equal(status, 200, JSON.stringify(body));
    // Connections first (kept alive and reused below), so that every request is on the
    // wire and read by the server before the signal: a request not yet sent is not in flight.
    const N = 32;
    await Promise.all(Array.from({ length: N }, () => fetch(new URL('/healthz', server.origin)).then((r) => r.text())));
    let done = 0;
    const inFlight = Array.from({ length: N }, (_, i) =>
      fetch(new URL('/api/v2/users', server.origin), {
        method: 'POST',
        headers: { authorization: `Bearer ${body.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email: `drain-${i}@example.com`, password: 'a long enough password' }),
      })
        .then(
          async (r) => ({ status: r.status, body: await r.json() }),
          (err) => ({ status: String(err.cause ?? err) }),
        )
        .finally(() => done++),
    );
    await sleep(150);
    const exited = server.terminate();
    assert.ok(done < N, `requests were still in flight at the signal (${done} of ${N} done)`);
    await sleep(50);
    await assert.rejects(freshGet(new URL('/healthz', server.origin)), 'a new connection is refused while draining');
    const answers = await Promise.all(inFlight);
    assert.deepEqual(
      answers.map((a) => a.status),
      answers.map(() => 201),
      JSON.stringify(answers.filter((a) => a.status !== 201)),
    );
    assert.deepEqual(await exited, { code: 0, signal: null });
  } finally {
    await server.stop();
  }
});
