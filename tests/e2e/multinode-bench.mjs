// Code-exchange throughput on one PostgreSQL: the same batch of authorization codes redeemed
// at one node, then (a fresh batch) spread over two nodes. Codes are made first (SSO logins,
// not timed), then redeemed by `concurrency` clients as fast as the nodes answer; every
// answer is checked (200 with an ID token and an access token).
//
//   PORTCULLIS_TEST_BIN=target/release/portcullis \
//   PORTCULLIS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//   node tests/e2e/multinode-bench.mjs [codes=1500] [concurrency=16]
//
// Prints one line per configuration and a JSON line with the figures.

import { Browser } from './hosted.mjs';
import { codeFor, codeForm, tokenAt, webApp } from './flows.mjs';
import { freePort, freshPostgresDatabase, startServer } from './server.mjs';

const codes = Number(process.argv[2] ?? 1500);
const concurrency = Number(process.argv[3] ?? 16);

const database = await freshPostgresDatabase();
if (!database) throw new Error('set PORTCULLIS_TEST_POSTGRES_URL');
const ports = [await freePort(), await freePort()];
const publicUrl = `http://127.0.0.1:${ports[0]}/`;
// Both nodes are one issuer (node A's address stands for the load balancer).
const nodes = [];
for (const port of ports) nodes.push(await startServer({ database, publicUrl, port }));

/** `n` fresh codes from `workers` logged-in browsers. */
async function makeCodes(n, config, browsers) {
  const made = [];
  await Promise.all(
    browsers.map(async (browser) => {
      while (made.length < n) made.push(codeForm(await codeFor(browser, config)));
    }),
  );
  return made.slice(0, n);
}

/** Redeems `forms` with `concurrency` clients, client i at nodes[i % nodes.length]. */
async function redeem(forms, targets) {
  let next = 0;
  let failures = 0;
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const node = targets[i % targets.length];
      while (next < forms.length) {
        const form = forms[next++];
        const t0 = performance.now();
        const r = await tokenAt(node.direct, form);
        latencies.push(performance.now() - t0);
        if (r.status !== 200 || !r.body.id_token || !r.body.access_token) failures++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((x, y) => x - y);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { rps: forms.length / seconds, p50: at(0.5), p95: at(0.95), p99: at(0.99), failures };
}

try {
  const config = await webApp(publicUrl);
  const browsers = Array.from({ length: 8 }, () => new Browser(publicUrl));
  const results = {};
  for (const [name, targets] of [
    ['one node', [nodes[0]]],
    ['two nodes', nodes],
  ]) {
    // Codes live 60 s: made just before they are redeemed.
    const forms = await makeCodes(codes, config, browsers);
    const r = await redeem(forms, targets);
    results[name] = r;
    console.log(
      `${name}: ${r.rps.toFixed(0)} exchanges/s, p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.failures} failures (${codes} codes, concurrency ${concurrency})`,
    );
  }
  console.log(JSON.stringify({ bench: 'code-exchange-multinode', codes, concurrency, results }));
} finally {
  await Promise.all(nodes.map((n) => n.stop()));
}
