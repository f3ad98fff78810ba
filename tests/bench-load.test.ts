// `bench load` on the tiny checkpoint: the levels, the batches the queue formed, the percentiles.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchLoad } from '../bench/load.js';
import { loadText } from '../bench/load-report.js';
import { percentile } from '../bench/stats.js';
import { testGpu } from './helpers/gpu.js';

describe('bench load', () => {
  it('percentiles interpolate between sorted values; the median is p = 0.5', () => {
    expect(percentile([5, 1, 3], 0.5)).toBe(3);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(percentile([10, 20], 0.95)).toBeCloseTo(19.5);
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it('runs each concurrency through one Pipeline, round after round, and reports tokens/s, batches and latencies', { timeout: 120_000 }, async () => {
    const report = await benchLoad({
      model: join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded', 'checkpoint'),
      concurrency: [1, 4],
      rounds: 2,
      requests: 4,
      maxNewTokens: 3,
      prompt: '',
      ids: [2, 40, 108],
      gpu: testGpu,
      command: 'test',
    });
    expect(report.levels.map((l) => [l.concurrency, l.round, l.batches, l.meanBatch, l.tokens])).toEqual([
      [1, 1, 4, 1, 12],
      [4, 1, 1, 4, 12],
      [1, 2, 4, 1, 12],
      [4, 2, 1, 4, 12],
    ]);
    expect(report.maxBatch).toBe(4);
    for (const l of report.levels) {
      expect(l.decodeTokensPerSec).toBeGreaterThan(0);
      expect(l.firstTokenMs.p95).toBeGreaterThanOrEqual(l.firstTokenMs.p50);
      expect(l.perTokenMs.p50).toBeGreaterThan(0);
    }
    // The target pools both rounds: each level's decode tokens over its decode time.
    const pooled = (c: number) => {
      const ls = report.levels.filter((l) => l.concurrency === c);
      return ls.reduce((a, l) => a + l.decodeTokens, 0) / ls.reduce((a, l) => a + l.decodeSeconds, 0);
    };
    expect(report.levels.every((l) => Math.abs(l.decodeTokens / l.decodeSeconds - l.decodeTokensPerSec) < 1e-9 * l.decodeTokensPerSec)).toBe(true);
    expect(report.targets.map((t) => t.what)).toEqual(['decode tokens/s at C = 4 ÷ C = 1']);
    expect(report.targets[0]!.measured).toBeCloseTo(pooled(4) / pooled(1), 9);
    expect(loadText(report)).toMatch(/C\s+round\s+requests[\s\S]*first token p50 ms/);
  });
});
