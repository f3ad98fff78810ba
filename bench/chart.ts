// The roofline chart (SVG, or HTML holding the SVG and the table): achieved GFLOP/s against
// arithmetic intensity on log axes, under the two ceilings measured in the same run (BLAS GEMM
// rate, WGSL streaming-read GB/s × intensity), plus bars of each kernel's share of its ceiling.

import type { KernelsReport } from './kernels.js';
import { kernelsText, adapterText, ceilingShare } from './report.js';
import { fmt } from './stats.js';

const W = 760;
const H = 420;
const PAD = { l: 60, r: 20, t: 30, b: 45 };
const COLORS: Record<string, string> = { ours: '#1f77b4', 'tfjs-webgpu': '#d62728', 'onnxruntime-cpu': '#2ca02c' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Point {
  who: string;
  label: string;
  ai: number;
  gflops: number;
}

function roofline(r: KernelsReport): string {
  const pts: Point[] = r.kernels.filter((k) => k.gflops).map((k) => ({ who: 'ours', label: `${k.name}: ${k.label}`, ai: (k.gflops! * k.ms * 1e6) / k.traffic, gflops: k.gflops! }));
  for (const p of r.peers) {
    const { M, K, N } = p.shape;
    pts.push({ who: p.name, label: `${p.name}: ${p.label}`, ai: (2 * M * K * N) / (4 * (M * K + K * N + M * N)), gflops: p.gflops });
  }
  const { blas_gflops: blas, read_gbps: read } = r.ceilings;
  // A page has no BLAS ceiling (null in JSON): the roof is then the read line alone.
  const hasBlas = Number.isFinite(blas) && blas > 0;
  const xs = pts.map((p) => p.ai);
  const ys = [...pts.map((p) => p.gflops), ...(hasBlas ? [blas] : []), read * 0.25];
  const x0 = Math.log10(Math.min(0.25, ...xs)) - 0.2;
  const x1 = Math.log10(Math.max(1000, ...xs)) + 0.2;
  const y0 = Math.log10(Math.min(...ys)) - 0.3;
  const y1 = Math.log10(Math.max(...ys)) + 0.3;
  const X = (v: number) => PAD.l + ((Math.log10(v) - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const Y = (v: number) => H - PAD.b - ((Math.log10(v) - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  const parts: string[] = [];
  for (let e = Math.ceil(x0); e <= x1; e++) parts.push(`<line x1="${X(10 ** e)}" x2="${X(10 ** e)}" y1="${PAD.t}" y2="${H - PAD.b}" stroke="#eee"/><text x="${X(10 ** e)}" y="${H - PAD.b + 16}" text-anchor="middle">${10 ** e}</text>`);
  for (let e = Math.ceil(y0); e <= y1; e++) parts.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${Y(10 ** e)}" y2="${Y(10 ** e)}" stroke="#eee"/><text x="${PAD.l - 6}" y="${Y(10 ** e) + 4}" text-anchor="end">${10 ** e}</text>`);
  // The roof: min(read GB/s × intensity, BLAS GFLOP/s).
  const left = 10 ** x0;
  const right = 10 ** x1;
  if (hasBlas) {
    const knee = blas / read;
    parts.push(`<polyline fill="none" stroke="#555" stroke-width="2" points="${X(left)},${Y(read * left)} ${X(knee)},${Y(blas)} ${X(right)},${Y(blas)}"/>`);
    parts.push(`<text x="${X(right) - 4}" y="${Y(blas) - 6}" text-anchor="end">BLAS ${fmt(blas)} GFLOP/s</text>`);
  } else {
    const end = Math.min(right, 10 ** y1 / read);
    parts.push(`<polyline fill="none" stroke="#555" stroke-width="2" points="${X(left)},${Y(read * left)} ${X(end)},${Y(read * end)}"/>`);
    parts.push(`<text x="${X(right) - 4}" y="${PAD.t + 12}" text-anchor="end">no BLAS ceiling on this platform</text>`);
  }
  parts.push(`<text x="${X(left) + 4}" y="${Y(read * left) - 6}">read ${fmt(read)} GB/s</text>`);
  for (const p of pts) parts.push(`<circle cx="${X(p.ai)}" cy="${Y(p.gflops)}" r="5" fill="${COLORS[p.who]}" fill-opacity="0.75"><title>${esc(p.label)}: ${fmt(p.gflops)} GFLOP/s at ${fmt(p.ai)} FLOP/B</title></circle>`);
  Object.entries(COLORS).forEach(([who, color], i) => parts.push(`<circle cx="${PAD.l + 14}" cy="${PAD.t + 10 + 16 * i}" r="5" fill="${color}"/><text x="${PAD.l + 24}" y="${PAD.t + 14 + 16 * i}">${who}</text>`));
  parts.push(`<text x="${(W + PAD.l) / 2}" y="${H - 8}" text-anchor="middle">FLOP per byte (least traffic)</text>`);
  parts.push(`<text transform="translate(14 ${(H - PAD.b + PAD.t) / 2}) rotate(-90)" text-anchor="middle">GFLOP/s</text>`);
  const wall = r.timing === 'wall' ? ' — WALL-CLOCK times (no timestamp-query on this adapter)' : '';
  parts.push(`<text x="${PAD.l}" y="18">roofline, ${esc(r.date)}${wall}</text>`);
  return `<g>${parts.join('')}</g>`;
}

/** One bar per kernel: % of the ceiling that bounds it (BLAS for GFLOP/s kernels, read for GB/s ones). */
function bars(r: KernelsReport, top: number): { svg: string; height: number } {
  const row = 16;
  const rows = r.kernels.map((k) => ({ label: `${k.name}: ${k.label}`, ...ceilingShare(k, r.ceilings) }));
  const max = Math.max(100, ...rows.map((x) => x.pct).filter(Number.isFinite));
  const x0 = 330;
  const scale = (W - x0 - 80) / max;
  const parts = [`<text x="10" y="${top + 12}">share of the ceiling (% of streaming read for GB/s kernels, % of BLAS otherwise)</text>`];
  rows.forEach((b, i) => {
    const y = top + 22 + i * row;
    parts.push(`<text x="${x0 - 6}" y="${y + 11}" text-anchor="end">${esc(b.label.slice(0, 52))}</text>`);
    if (!Number.isFinite(b.pct)) return void parts.push(`<text x="${x0 + 4}" y="${y + 11}">– (no ${b.of} ceiling)</text>`);
    parts.push(`<rect x="${x0}" y="${y + 2}" width="${Math.max(1, b.pct * scale)}" height="${row - 4}" fill="${COLORS.ours}"/>`);
    parts.push(`<text x="${x0 + b.pct * scale + 4}" y="${y + 11}">${fmt(b.pct)} % ${b.of}</text>`);
  });
  parts.push(`<line x1="${x0 + 100 * scale}" x2="${x0 + 100 * scale}" y1="${top + 20}" y2="${top + 22 + rows.length * row}" stroke="#555" stroke-dasharray="3 3"/>`);
  return { svg: parts.join(''), height: 30 + rows.length * row };
}

export function chartSvg(r: KernelsReport): string {
  const b = bars(r, H + 10);
  const h = H + 20 + b.height;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>${roofline(r)}${b.svg}</svg>`;
}

export function chartHtml(r: KernelsReport): string {
  return `<!doctype html><meta charset="utf-8"><title>paligemma bench kernels ${esc(r.date)}</title>
<body style="font-family: sans-serif"><h1>paligemma bench kernels</h1><pre>${esc(adapterText(r.adapter))}</pre>${chartSvg(r)}<pre>${esc(kernelsText(r))}</pre></body>`;
}
