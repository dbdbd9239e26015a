#!/usr/bin/env bash
# End-to-end tests with clients we did not write: openid-client (over HTTP), Auth0's Node SDK
# (the Management API) and Debian's Chromium driven by playwright-core. Works from a fresh
# clone: installs what is missing (Chromium from apt, the npm packages from
# package-lock.json), builds the server, and runs `node --test`, whose exit status is this
# script's.
#
#   bash tests/e2e/run.sh                 # build target/debug/portcullis and test it
#   PORTCULLIS_TEST_BIN=path bash tests/e2e/run.sh   # test an existing binary, build nothing
#   CHROMIUM_PATH=path bash tests/e2e/run.sh    # another Chromium (default /usr/bin/chromium)
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$E2E_DIR/../.." && pwd)"
cd "$ROOT"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Node.js 20 or later (playwright-core and node --test need it).
if ! command -v node >/dev/null 2>&1; then
    echo "run.sh: node is not installed (Node.js >= 20 is needed)" >&2
    exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    echo "run.sh: Node.js >= 20 is needed, found $(node --version)" >&2
    exit 1
fi

# Chromium: Debian's package (playwright-core never downloads a browser).
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ]; then
    if [ "$CHROMIUM_PATH" != /usr/bin/chromium ]; then
        echo "run.sh: no Chromium at CHROMIUM_PATH=$CHROMIUM_PATH" >&2
        exit 1
    fi
    echo "run.sh: installing Debian's chromium"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

# npm packages, exactly as locked; again only when the lock file is newer than the install
# (npm writes node_modules/.package-lock.json on every install).
if [ ! -f "$E2E_DIR/node_modules/.package-lock.json" ] \
    || [ "$E2E_DIR/package-lock.json" -nt "$E2E_DIR/node_modules/.package-lock.json" ]; then
    echo "run.sh: npm ci"
    (cd "$E2E_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

# The server.
if [ -z "${PORTCULLIS_TEST_BIN:-}" ]; then
    cargo build -p portcullis
    export PORTCULLIS_TEST_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/portcullis"
fi
echo "run.sh: testing $PORTCULLIS_TEST_BIN"

node --test "$E2E_DIR"/*.test.mjs
