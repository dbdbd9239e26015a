// Starts a Portcullis binary for the end-to-end tests. It builds nothing: the binary comes
// from $PORTCULLIS_TEST_BIN, or target/debug/portcullis at the repository root. Each server gets
// a fresh temporary directory (SQLite database, working directory) and the tenant file next
// to this module (or another one, see startServer's `tenant`), and is killed by stop().

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(E2E_DIR, '..', '..');
export const TENANT_FILE = join(E2E_DIR, 'tenant.yaml');

/** What tenant.yaml declares; the tests use these. */
export const TENANT = {
  web: {
    clientId: 'e2e-web',
    clientSecret: 'e2e-web-secret-0123456789abcdefghijklmnop',
  },
  post: {
    clientId: 'e2e-post',
    clientSecret: 'e2e-post-secret-0123456789abcdefghijklmnop',
  },
  redirectUri: 'http://127.0.0.1:8976/callback',
  /** In both clients' allowed_logout_urls. */
  logoutUri: 'http://127.0.0.1:8976/logged-out',
  audience: 'https://e2e-api.test/',
  alice: {
    email: 'alice@example.com',
    password: 'correct horse battery staple',
    name: 'Alice Example',
  },
};

/** The binary to run: $PORTCULLIS_TEST_BIN (relative to the current directory), else the debug build. */
export function binaryPath() {
  const fromEnv = process.env.PORTCULLIS_TEST_BIN;
  return fromEnv ? resolve(fromEnv) : join(REPO_ROOT, 'target', 'debug', 'portcullis');
}

const READY = /Portcullis is listening\. Issuer: (\S+)/;
/** What the server prints once, on a first start, about its Management API client. */
const BOOTSTRAP = /created the Management API client:\s+client_id\s+(\S+)\s+client_secret\s+(\S+)\s+audience\s+(\S+)/;

/**
 * The bootstrap Management API client (every Management scope) from a server's output, or
 * undefined when it was not created on this start.
 * @param {string} output
 * @returns {{clientId: string, clientSecret: string, audience: string} | undefined}
 */
export function bootstrapManagementClient(output) {
  const m = BOOTSTRAP.exec(output);
  return m ? { clientId: m[1], clientSecret: m[2], audience: m[3] } : undefined;
}

/**
 * Spawns `portcullis serve` on 127.0.0.1 with a free port and waits for its issuer line.
 *
 * @param {object} [options]
 * @param {boolean} [options.cheapPasswords=true] low-cost Argon2 (1 MiB, 1 pass) so logins are
 *   fast in tests; false keeps the server's default (OWASP) cost.
 * @param {number} [options.readyTimeoutMs=60000]
 * @param {Record<string,string>} [options.env] extra environment variables.
 * @param {string} [options.tenant=TENANT_FILE] the tenant file to load (an absolute path).
 * @param {string} [options.database] a database URL (default: SQLite in the server's own
 *   temporary directory, removed by stop()).
 * @param {string} [options.publicUrl] the public URL (issuer), e.g. a load balancer's.
 * @param {number} [options.port=0] the port to listen on (0: a free one).
 * @returns {Promise<{issuer: string, origin: string, direct: string, management: ReturnType<typeof bootstrapManagementClient>, logs: () => string, stop: () => Promise<void>, terminate: () => Promise<{code: number|null, signal: string|null}>, kill: () => Promise<void>}>}
 */
export async function startServer({
  cheapPasswords = true,
  readyTimeoutMs = 60_000,
  env = {},
  tenant = TENANT_FILE,
  database = undefined,
  publicUrl = undefined,
  port = 0,
} = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`no Portcullis binary at ${bin}: run \`cargo build -p portcullis\` or set PORTCULLIS_TEST_BIN`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-e2e-'));
  // The server reads every PORTCULLIS_* variable as configuration and refuses unknown keys
  // (PORTCULLIS_TEST_BIN among them): none is inherited, the server gets only what is set here.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PORTCULLIS_')));
  const childEnv = {
    ...inherited,
    PORTCULLIS_DEMO: 'false',
    PORTCULLIS_MASTER_KEY: 'e2e-master-key-0123456789abcdefghijklmnopqrstuvwxyz',
    ...(cheapPasswords
      ? { PORTCULLIS_PASSWORD_HASHING__MEMORY_KIB: '1024', PORTCULLIS_PASSWORD_HASHING__ITERATIONS: '1' }
      : {}),
    ...(publicUrl ? { PORTCULLIS_PUBLIC_URL: publicUrl } : {}),
    ...env,
  };
  const child = spawn(
    bin,
    ['serve', '--listen', `127.0.0.1:${port}`, '--database', database ?? `sqlite://${join(dir, 'e2e.db')}`, '--tenant', tenant],
    // The temporary directory as working directory: no stray portcullis.toml is picked up.
    { cwd: dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );

  let output = '';
  const exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  const ready = new Promise((resolveIssuer, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Portcullis did not report its issuer within ${readyTimeoutMs} ms; output:\n${output}`));
    }, readyTimeoutMs);
    let found = false;
    const onData = (chunk) => {
      output += chunk;
      // Only until the issuer line: matching the whole, growing output on every later chunk
      // (one log line per request) costs quadratic time under load (refresh-bench.mjs).
      if (found) return;
      const m = READY.exec(output);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolveIssuer(m[1]);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`Portcullis exited (code ${code}, signal ${signal}) before it was ready; output:\n${output}`));
    });
  });
  let issuer;
  try {
    issuer = await ready;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  let stopped = false;
  return {
    issuer,
    origin: new URL(issuer).origin,
    /** This node's own address (the issuer may be a load balancer's). */
    direct: port ? `http://127.0.0.1:${port}` : new URL(issuer).origin,
    // Printed before the issuer line, so already in the output.
    management: bootstrapManagementClient(output),
    logs: () => output,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dir, { recursive: true, force: true });
    },
    /** Sends SIGTERM and returns how the process exited (its temporary directory stays until stop()). */
    async terminate() {
      child.kill('SIGTERM');
      return exited;
    },
    /** Kills the process with SIGKILL (a crash: nothing is flushed or finished). */
    async kill() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A free TCP port on 127.0.0.1 (free when this returns; the caller binds it soon). */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

/**
 * A fresh schema of the test PostgreSQL ($PORTCULLIS_TEST_POSTGRES_URL) as a database URL
 * whose connections use it; undefined when the variable is unset outside CI (in CI, where
 * it must be set, this throws).
 */
export async function freshPostgresDatabase() {
  const base = process.env.PORTCULLIS_TEST_POSTGRES_URL;
  if (!base) {
    if (process.env.CI) throw new Error('PORTCULLIS_TEST_POSTGRES_URL is not set: CI must run the PostgreSQL tests');
    return undefined;
  }
  const { default: pg } = await import('pg');
  const schema = `e2e_${randomBytes(8).toString('hex')}`;
  const db = new pg.Client({ connectionString: base });
  await db.connect();
  try {
    await db.query(`create schema ${schema}`);
  } finally {
    await db.end();
  }
  const separator = base.includes('?') ? '&' : '?';
  return `${base}${separator}options=-c%20search_path%3D${schema}`;
}
