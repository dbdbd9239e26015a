// Time of one JWS signature in Node.js (node:crypto, as oidc-provider signs), to set the
// peer's figures against the same kind of bound as Portcullis's criterion bench.
//
//   taskset -c 0 node bench/peer/sign-cost.mjs
//
// Signs a 600-byte JWS signing input (about an access token's header.payload) back to back
// for about two seconds per algorithm, after a warm-up, and prints µs per signature.

import { generateKeyPairSync, sign } from 'node:crypto';

const input = Buffer.from('e'.repeat(600));
const keys = {
  RS256: [generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'sha256', {}],
  ES256: [generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'sha256', { dsaEncoding: 'ieee-p1363' }],
};
for (const [alg, [key, hash, options]] of Object.entries(keys)) {
  const once = () => sign(hash, input, { key, ...options });
  for (let i = 0; i < 200; i += 1) once();
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < 2_000_000_000n) {
    for (let i = 0; i < 50; i += 1) once();
    n += 50;
    elapsed = process.hrtime.bigint() - start;
  }
  console.log(JSON.stringify({ alg, signatures: n, us_per_signature: Number(elapsed) / n / 1000 }));
}
