// The comparison view's HTML: one row per kernel, per loaded report its ms and a bar of its share
// of that machine's own ceiling (so a laptop and an H200 read on the same 0–100 % scale).

import { compareRows, machineName, type Named } from '../compare.js';
import { fmt } from '../stats.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function compareHtml(reports: Named[]): string {
  const rows = compareRows(reports);
  const two = reports.length === 2;
  const head = reports.map((r, i) => `<th style="color:${COLORS[i % COLORS.length]}">#${i + 1} ${esc(r.name)}<br><small>${esc(machineName(r.report))}<br>${esc(r.report.date)}</small></th>`).join('');
  const body = rows
    .map((row) => {
      const cells = row.cells
        .map((c, i) => {
          if (!c) return '<td class="none">not run</td>';
          const share = Number.isFinite(c.pct) ? `${fmt(c.pct)} % ${c.of}` : `– (no ${c.of} ceiling)`;
          const w = Number.isFinite(c.pct) ? Math.min(100, c.pct) : 0;
          return `<td><div class="bar" style="width:${w}%;background:${COLORS[i % COLORS.length]}"></div><span>${share}</span> <small>${fmt(c.k.ms)} ms</small></td>`;
        })
        .join('');
      return `<tr data-kernel="${esc(row.label)}"><td>${esc(row.kernel)}</td><td>${esc(row.label)}</td>${cells}${two ? `<td>${fmt(row.ratio)}</td>` : ''}</tr>`;
    })
    .join('');
  return `<table class="compare"><thead><tr><th>kernel</th><th>where</th>${head}${two ? '<th>ms #2 ÷ #1</th>' : ''}</tr></thead><tbody>${body}</tbody></table>`;
}
