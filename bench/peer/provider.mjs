// panva's oidc-provider (the "peer"), configured as close as it allows to Portcullis's
// end-to-end tenant (tests/e2e/tenant.yaml plus the bench's machine-to-machine client), for
// side-by-side runs of portcullis-bench. Every choice is written down in docs/performance.md
// ("Side by side with node-oidc-provider").
//
//   PORT=8081 SIGNING_ALG=ES256 node provider.mjs      (or: node provider.mjs 8081)
//
// PORT: the loopback port (default 8081). SIGNING_ALG: RS256 (default) or ES256; one key of
// that kind is generated at start and signs both the ID tokens and the JWT access tokens.
// Prints "peer is listening. Issuer: <issuer>" once it accepts connections.

import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT ?? 8081);
const alg = process.env.SIGNING_ALG ?? 'RS256';
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  throw new Error(`bad port: ${process.argv[2] ?? process.env.PORT}`);
}

function signingKey(algorithm) {
  const { privateKey } = algorithm === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : algorithm === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : (() => { throw new Error(`SIGNING_ALG must be RS256 or ES256, not ${algorithm}`); })();
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: `bench-${algorithm.toLowerCase()}-${randomBytes(4).toString('hex')}`,
    alg: algorithm,
    use: 'sig',
  };
}

// The API of the e2e tenant (resourceServers[0]) and its one scope.
const API = 'https://e2e-api.test/';
const API_SCOPE = 'read:items';

// The user of the e2e tenant. The development login accepts any login name and checks no
// password; the account id is whatever was typed in ("alice@example.com" in the bench).
const ALICE = { email: 'alice@example.com', email_verified: true, name: 'Alice Example' };

const configuration = {
  clients: [
    {
      // tests/e2e/tenant.yaml, e2e-web: confidential, client_secret_basic, code + refresh.
      client_id: 'e2e-web',
      client_secret: 'e2e-web-secret-0123456789abcdefghijklmnop',
      redirect_uris: ['http://127.0.0.1:8976/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1:8976/logged-out'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      // The bench's machine-to-machine client (as crates/portcullis-bench/tests adds).
      client_id: 'bench-m2m',
      client_secret: 'bench-m2m-secret-0123456789abcdefghijklmnop',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  clientDefaults: {
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: alg,
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: { keys: [signingKey(alg)] },
  scopes: ['openid', 'profile', 'email', 'offline_access', API_SCOPE],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, ...ALICE };
      },
    };
  },
  features: {
    devInteractions: { enabled: true }, // the default: form login (no password check) + consent
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No resource parameter: no resource (the access token is for UserInfo, opaque).
      async defaultResource(_ctx, _client, oneOf) {
        return oneOf ?? undefined;
      },
      async useGrantedResource() {
        return false;
      },
      async getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== API) throw new errors.InvalidTarget();
        return {
          scope: API_SCOPE,
          audience: API,
          accessTokenTTL: 86400, // Portcullis's default for an API (Auth0's token_lifetime)
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
  // A refresh token for a client allowed the grant that asked for offline_access (the default
  // rule, written out), rotated on every use (Portcullis's e2e-web: rotation_type rotating).
  async issueRefreshToken(_ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },
  rotateRefreshToken: true,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  console.log(`peer is listening. Issuer: ${provider.issuer} (${alg}, pid ${process.pid})`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
