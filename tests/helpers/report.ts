// Records the worst measured error per check and prints it after the file, so the margin under
// each stated tolerance is visible in the test output.

import { afterAll, expect } from 'vitest';

const worst = new Map<string, { err: number; tol: number }>();
// Imported during collection, so this hooks into the importing file's root suite.
afterAll(() => {
  for (const [k, v] of worst) console.log(`max normErr ${k}: ${v.err.toExponential(2)} (tolerance ${v.tol})`);
});

export function expectErr(label: string, err: number, tol: number): void {
  const prev = worst.get(label);
  if (!prev || !(err <= prev.err)) worst.set(label, { err, tol });
  expect(err).toBeLessThanOrEqual(tol);
}
