// The README's page-vs-Node table from the rounds in this folder (node-N.json and browser-N.json
// of round N, each a `bench kernels --quick --peers none --json` report, run back to back):
// per kernel the median over rounds of each side's GPU ms, their ratio (the goal: page ≤ 1.10×
// Node), and the range of the per-round ratios.   node medians.mjs [FOLDER]
import { readFileSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.argv[2] ?? dirname(fileURLToPath(import.meta.url));
const reports = (side) => {
  const files = readdirSync(dir).filter((f) => f.startsWith(`${side}-`) && f.endsWith('.json')).sort();
  return new Map(files.map((f) => [f.slice(side.length + 1, -5), JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'))]));
};
const node = reports('node');
const page = reports('browser');
const rounds = [...node.keys()].filter((k) => page.has(k));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const ms = (r, label) => r.kernels.find((k) => k.label === label).ms;

console.log(`${rounds.length} rounds`);
console.log('| kernel | where | Node ms | page ms | page ÷ Node | per round | ≤ 1.10 |');
console.log('|---|---|--:|--:|--:|--:|---|');
let pass = 0;
const first = node.get(rounds[0]);
for (const k of first.kernels) {
  const n = median(rounds.map((r) => ms(node.get(r), k.label)));
  const p = median(rounds.map((r) => ms(page.get(r), k.label)));
  const per = rounds.map((r) => ms(page.get(r), k.label) / ms(node.get(r), k.label));
  if (p / n <= 1.1) pass++;
  console.log(`| ${k.name} | ${k.label} | ${fmt(n)} | ${fmt(p)} | ${fmt(p / n)} | ${fmt(Math.min(...per))}–${fmt(Math.max(...per))} | ${p / n <= 1.1 ? 'PASS' : 'MISS'} |`);
}
const read = (m) => fmt(median(rounds.map((r) => m.get(r).ceilings.read_gbps)));
console.log(`\n${pass} of ${first.kernels.length} PASS; streaming read of 4 MiB (median GB/s): Node ${read(node)}, page ${read(page)}`);
