#!/usr/bin/env node
// Every test that docs/conformance.md and docs/security.md name in their tables must exist:
// Rust tests as `module::name` (HTTP tests), `path::tests::name` (unit tests) or
// `binary::name` (other integration test files), and end-to-end tests as
// `e2e <file>: <title>`. A renamed or deleted test fails this check, so the tables cannot
// point at tests that no longer run.
//
// Usage: node scripts/check-doc-tests.mjs (from the repository root; runs
// `cargo test --workspace -- --list`, which reuses the test build).

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const DOCS = ['docs/conformance.md', 'docs/security.md'];

function listing() {
  // Run through a shell so stderr and stdout interleave in the order they are written.
  const out = execFileSync('sh', ['-c', 'cargo test --workspace -- --list 2>&1'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const names = new Set();
  let binary = null;
  for (const line of out.split('\n')) {
    const running = line.match(/^\s*Running (?:unittests )?(\S+)/);
    if (running) {
      const file = running[1];
      const integration = file.match(/^tests\/([a-z_0-9]+)(?:\.rs|\/main\.rs)$/);
      binary = integration ? integration[1] : null;
      continue;
    }
    const test = line.match(/^(\S+): test$/);
    if (test) {
      names.add(test[1]);
      if (binary) names.add(`${binary}::${test[1]}`);
    }
  }
  return names;
}

function e2eTitles() {
  const titles = new Map();
  for (const file of readdirSync('tests/e2e').filter((f) => f.endsWith('.test.mjs'))) {
    const source = readFileSync(`tests/e2e/${file}`, 'utf8');
    const found = [...source.matchAll(/\btest\(\s*(['"`])((?:\\.|(?!\1).)*)\1/g)].map((m) =>
      m[2].replace(/\\(.)/g, '$1'),
    );
    titles.set(file.replace(/\.test\.mjs$/, ''), found);
  }
  return titles;
}

const tests = listing();
if (tests.size === 0) {
  console.error('check-doc-tests: cargo listed no tests');
  process.exit(1);
}
const titles = e2eTitles();
const problems = [];
let checked = 0;
for (const doc of DOCS) {
  const rows = readFileSync(doc, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|\s*-/.test(l));
  for (const row of rows) {
    for (const [, name] of row.matchAll(/`([a-z_0-9]+(?:::[a-z_0-9]+)+)`/g)) {
      checked++;
      if (!tests.has(name)) problems.push(`${doc}: no Rust test named ${name}`);
    }
    for (const m of row.matchAll(/e2e ([a-z-]+): /g)) {
      checked++;
      const rest = row.slice(m.index + m[0].length);
      const known = titles.get(m[1]);
      if (!known) {
        problems.push(`${doc}: no end-to-end file tests/e2e/${m[1]}.test.mjs`);
      } else if (!known.some((t) => rest.startsWith(t))) {
        problems.push(`${doc}: no test in tests/e2e/${m[1]}.test.mjs titled ${rest.slice(0, 80)}…`);
      }
    }
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`check-doc-tests: ${checked} test references in ${DOCS.join(', ')} all exist`);
