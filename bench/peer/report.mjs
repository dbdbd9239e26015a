// Reads bench/peer/results/*.jsonl (written by run.sh) and prints the markdown tables of
// docs/performance.md ("Side by side with node-oidc-provider"); writes the plot
// docs/performance-throughput.svg. No dependencies.
//
//   node bench/peer/report.mjs [--date YYYY-MM-DD] [--results DIR] [--svg PATH]
//
// For each configuration it takes the newest <date>-<config>.jsonl (or that of --date); of
// the repeats of one scenario and concurrency it keeps the median by throughput.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const resultsDir = opt('--results') ?? join(here, 'results');
const svgPath = opt('--svg') ?? join(here, '../../docs/performance-throughput.svg');
const onlyDate = opt('--date');

const CONFIGS = [
  'portcullis-rs256', 'peer-rs256', 'portcullis-es256', 'peer-es256', 'portcullis-rs256-unpinned',
];
const SCENARIOS = ['sso', 'refresh', 'client-credentials', 'userinfo', 'jwks'];

// config -> { runs: [json], rss: { scenario: {...} }, file }
const data = {};
for (const config of CONFIGS) {
  const files = readdirSync(resultsDir)
    .filter((f) => f.endsWith(`-${config}.jsonl`) && /^\d{4}-\d\d-\d\d-/.test(f))
    .filter((f) => f.slice(11) === `${config}.jsonl`)
    .filter((f) => !onlyDate || f.startsWith(onlyDate))
    .sort();
  if (files.length === 0) continue;
  const file = files.at(-1);
  const lines = readFileSync(join(resultsDir, file), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l));
  data[config] = {
    file,
    runs: lines.filter((l) => l.scenario && l.throughput !== undefined),
    rss: Object.fromEntries(lines.filter((l) => l.rss).map((l) => [l.scenario, l.rss])),
  };
}

/** The median-by-throughput run of config/scenario/concurrency (upper median if even). */
function median(config, scenario, c) {
  const runs = (data[config]?.runs ?? [])
    .filter((r) => r.scenario === scenario && r.concurrency === c)
    .sort((a, b) => a.throughput - b.throughput);
  if (runs.length === 0) return undefined;
  return { ...runs[Math.floor(runs.length / 2)], repeats: runs.length };
}

const levels = (scenario) => [...new Set(Object.values(data).flatMap((d) => d.runs)
  .filter((r) => r.scenario === scenario).map((r) => r.concurrency))].sort((a, b) => a - b);

const fmt = (x) => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const ms = (x) => (x === undefined ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const ratio = (a, b) => (a && b ? `${(a.throughput / b.throughput).toFixed(2)}×` : '—');
const mib = (kib) => (kib === undefined ? '—' : (kib / 1024).toFixed(1));

const out = [];
out.push(`Results: ${Object.values(data).map((d) => `\`${d.file}\``).join(', ')}.`, '');
for (const scenario of SCENARIOS) {
  out.push(`**${scenario}** (it/s; ratio = Portcullis ÷ peer; p99 in ms)`, '');
  out.push('| alg | C | Portcullis | peer | ratio | p99 Portcullis | p99 peer |');
  out.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const alg of ['rs256', 'es256']) {
    for (const c of levels(scenario)) {
      const p = median(`portcullis-${alg}`, scenario, c);
      const n = median(`peer-${alg}`, scenario, c);
      if (!p && !n) continue;
      out.push(`| ${alg.toUpperCase()} | ${c} | ${fmt(p?.throughput)} | ${fmt(n?.throughput)} | ${ratio(p, n)} | ${ms(p?.p99_ms)} | ${ms(n?.p99_ms)} |`);
    }
  }
  out.push('');
}

out.push('**Portcullis RS256, one core (server on CPU 0, load generator on CPU 1) vs unpinned (both on CPUs 0–1)** (it/s)', '');
out.push('| scenario | C | pinned | unpinned | unpinned ÷ pinned | p99 pinned | p99 unpinned |');
out.push('|---|---:|---:|---:|---:|---:|---:|');
for (const scenario of SCENARIOS) {
  for (const c of levels(scenario)) {
    const p = median('portcullis-rs256', scenario, c);
    const u = median('portcullis-rs256-unpinned', scenario, c);
    if (!p && !u) continue;
    out.push(`| ${scenario} | ${c} | ${fmt(p?.throughput)} | ${fmt(u?.throughput)} | ${ratio(u, p)} | ${ms(p?.p99_ms)} | ${ms(u?.p99_ms)} |`);
  }
}
out.push('');

out.push('**full-login** (one run each, C=8; the peer checks no password, Portcullis runs Argon2id at its default cost: not comparable)', '');
out.push('| configuration | it/s | p50 ms | p99 ms |');
out.push('|---|---:|---:|---:|');
for (const config of CONFIGS) {
  for (const c of levels('full-login')) {
    const r = median(config, 'full-login', c);
    if (r) out.push(`| ${config} (C=${c}) | ${fmt(r.throughput)} | ${ms(r.p50_ms)} | ${ms(r.p99_ms)} |`);
  }
}
out.push('');

const withCpu = CONFIGS.filter((config) => data[config]?.runs.some((r) => r.server_cpu_s !== undefined));
if (withCpu.length > 0) {
  out.push('**Server CPU use** (the server\'s user + system CPU seconds ÷ the load generator\'s wall seconds, setup and warm-up included, of the median run; 1.00 = one core busy)', '');
  out.push(`| scenario | C | ${withCpu.join(' | ')} |`);
  out.push(`|---|---:|${withCpu.map(() => '---:').join('|')}|`);
  for (const scenario of SCENARIOS) {
    for (const c of levels(scenario)) {
      const cells = withCpu.map((config) => {
        const r = median(config, scenario, c);
        return r?.server_cpu_s === undefined ? '—' : (r.server_cpu_s / r.bench_wall_s).toFixed(2);
      });
      out.push(`| ${scenario} | ${c} | ${cells.join(' | ')} |`);
    }
  }
  out.push('');
}

// The signing bound in the run itself: Portcullis counts its signatures and their CPU time
// (GET /metrics), so the cost of one signature is that of the same run, on the same core.
const SIGNATURES = { sso: 2, refresh: 2, 'client-credentials': 1 };
const signed = CONFIGS.filter((config) => config.startsWith('portcullis-')
  && data[config]?.runs.some((r) => r.server_signatures > 0));
if (signed.length > 0) {
  out.push('**Against the signing bound, in the run** (median run; CPU per signature = the server\'s signing CPU time ÷ its signatures in that run; bound = 1 ÷ (signatures per iteration × that); signing share = signing CPU ÷ the server\'s whole CPU time)', '');
  out.push('| configuration | scenario | C | it/s | CPU per signature (µs) | bound (it/s) | fraction of the bound | signing share of CPU |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const config of signed) {
    for (const [scenario, n] of Object.entries(SIGNATURES)) {
      for (const c of levels(scenario)) {
        const r = median(config, scenario, c);
        if (!r?.server_signatures) continue;
        const perSig = r.server_signing_cpu_s / r.server_signatures;
        const bound = 1 / (n * perSig);
        out.push(`| ${config} | ${scenario} | ${c} | ${fmt(r.throughput)} | ${(perSig * 1e6).toFixed(0)} | ${fmt(bound)} | ${(r.throughput / bound).toFixed(2)} | ${(r.server_signing_cpu_s / r.server_cpu_s).toFixed(2)} |`);
      }
    }
  }
  out.push('');
}

// COUNTS=1 runs: the server's system calls and context switches per iteration, over the
// load generator's whole run (warm-up included), whose iterations are counted by the
// signatures it made (sso and refresh sign twice per iteration).
const counted = CONFIGS.filter((config) => data[config]?.runs.some((r) => r.server_counts));
if (counted.length > 0) {
  const events = ['pread64', 'pwrite64', 'fsync', 'clock_nanosleep', 'sched_switch'];
  out.push('**Per iteration** (`COUNTS=1`: counted by `perf stat` on the server over the load generator\'s run; iterations = signatures ÷ 2; median run)', '');
  out.push(`| configuration | scenario | C | ${events.join(' | ')} |`);
  out.push(`|---|---|---:|${events.map(() => '---:').join('|')}|`);
  for (const config of counted) {
    for (const scenario of ['sso', 'refresh']) {
      for (const c of levels(scenario)) {
        const r = median(config, scenario, c);
        if (!r?.server_counts || !r.server_signatures) continue;
        const iterations = r.server_signatures / SIGNATURES[scenario];
        out.push(`| ${config} | ${scenario} | ${c} | ${events.map((e) => ((r.server_counts[e] ?? 0) / iterations).toFixed(2)).join(' | ')} |`);
      }
    }
  }
  out.push('');
}

out.push('**Server memory** (MiB; idle = VmRSS right after start; peak = VmHWM after the C=32 runs of that scenario, each scenario on a fresh server)', '');
out.push(`| configuration | idle | ${SCENARIOS.map((s) => `peak ${s}`).join(' | ')} |`);
out.push(`|---|---:|${SCENARIOS.map(() => '---:').join('|')}|`);
for (const config of CONFIGS) {
  const rss = data[config]?.rss;
  if (!rss) continue;
  const idles = Object.values(rss).map((r) => r.idle_kib).sort((a, b) => a - b);
  const idle = idles[Math.floor(idles.length / 2)];
  out.push(`| ${config} | ${mib(idle)} | ${SCENARIOS.map((s) => mib(rss[s]?.peak_kib)).join(' | ')} |`);
}
out.push('');
console.log(out.join('\n'));

// The plot: one panel per scenario, throughput against concurrency.
const SERIES = [
  { config: 'portcullis-rs256', label: 'Portcullis RS256 (1 core)', color: '#1f77b4', dash: '' },
  { config: 'peer-rs256', label: 'oidc-provider RS256 (1 core)', color: '#d62728', dash: '' },
  { config: 'portcullis-rs256-unpinned', label: 'Portcullis RS256 (2 cores, shared with the load generator)', color: '#1f77b4', dash: '6 4' },
];
const W = 250; const H = 210; const PAD = { l: 52, r: 12, t: 28, b: 36 };
const width = W * SCENARIOS.length + 20; const height = H + 60;
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const nice = (max) => {
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= max);
};
const svg = [];
svg.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
svg.push(`<rect width="${width}" height="${height}" fill="white"/>`);
SCENARIOS.forEach((scenario, i) => {
  const x0 = 10 + i * W;
  const cs = levels(scenario);
  const pts = SERIES.map((s) => cs.map((c) => [c, median(s.config, scenario, c)?.throughput]));
  const max = nice(Math.max(1, ...pts.flat().map(([, t]) => t ?? 0)));
  const px = (k) => x0 + PAD.l + (cs.length < 2 ? 0 : (k * (W - PAD.l - PAD.r)) / (cs.length - 1));
  const py = (t) => PAD.t + (H - PAD.t - PAD.b) * (1 - t / max);
  svg.push(`<text x="${x0 + PAD.l + (W - PAD.l - PAD.r) / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(scenario)}</text>`);
  for (let g = 0; g <= 4; g += 1) {
    const v = (max * g) / 4;
    svg.push(`<line x1="${x0 + PAD.l}" x2="${x0 + W - PAD.r}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/>`);
    svg.push(`<text x="${x0 + PAD.l - 4}" y="${py(v) + 4}" text-anchor="end">${v >= 1000 ? `${+(v / 1000).toFixed(2)}k` : +v.toFixed(1)}</text>`);
  }
  cs.forEach((c, k) => {
    svg.push(`<text x="${px(k)}" y="${H - PAD.b + 16}" text-anchor="middle">${c}</text>`);
  });
  svg.push(`<text x="${x0 + PAD.l + (W - PAD.l - PAD.r) / 2}" y="${H - 4}" text-anchor="middle" fill="#555">concurrency</text>`);
  SERIES.forEach((s, j) => {
    const p = pts[j].map(([, t], k) => [px(k), t]).filter(([, t]) => t !== undefined);
    if (p.length === 0) return;
    svg.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${p.map(([x, t]) => `${x.toFixed(1)},${py(t).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, t] of p) svg.push(`<circle cx="${x.toFixed(1)}" cy="${py(t).toFixed(1)}" r="3" fill="${s.color}"/>`);
  });
});
svg.push(`<text x="10" y="${H + 12}" fill="#555">it/s (median of the repeats); server pinned to CPU 0 and load generator to CPU 1 unless marked 2 cores</text>`);
SERIES.forEach((s, j) => {
  const x = 10 + j * 330; const y = H + 36;
  svg.push(`<line x1="${x}" x2="${x + 28}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
  svg.push(`<text x="${x + 34}" y="${y}">${esc(s.label)}</text>`);
});
svg.push('</svg>');
writeFileSync(svgPath, `${svg.join('\n')}\n`);
console.error(`wrote ${svgPath}`);
