// Small numeric helpers shared by the benches.

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The p-quantile (0 ≤ p ≤ 1) by linear interpolation between the sorted values (p = 0.5 is the median). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = p * (s.length - 1);
  const lo = Math.floor(i);
  return lo + 1 < s.length ? s[lo]! + (i - lo) * (s[lo + 1]! - s[lo]!) : s[lo]!;
}

/** A number with about three significant digits, for tables. */
export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rows of cells as a plain-text table with aligned columns (numbers right-aligned). */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const num = (s: string) => /^[-–0-9.×%]+$/.test(s);
  const line = (r: string[]) => r.map((c, i) => (num(c) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}
