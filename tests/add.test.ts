import { describe, expect, it } from 'vitest';
import { add } from '../src/kernels/add.js';
import { normErr, randomF32, testGpu } from './helpers/gpu.js';

describe('add', () => {
  it.each([1, 255, 257, 10_000, 70_001])('matches a + b for n=%i', async (n) => {
    const gpu = await testGpu();
    const a = randomF32(n, n), b = randomF32(n, n + 1);
    const [ga, gb, out] = [gpu.upload(a, 'a'), gpu.upload(b, 'b'), gpu.buffer(n * 4, 'out')];
    const step = gpu.step('add');
    add(step, ga, gb, out, n);
    step.end();
    const got = await gpu.readF32(out, 0, n);
    const ref = Float64Array.from(a, (x, i) => x + b[i]!);
    expect(normErr(got, ref)).toBeLessThanOrEqual(1e-7);
  });

  it('splits huge sizes over a 2-D grid', async () => {
    const gpu = await testGpu();
    const n = 65535 * 256 + 1000; // more workgroups than one dimension allows
    const a = randomF32(n, 1), b = randomF32(n, 2);
    const [ga, gb, out] = [gpu.upload(a, 'a'), gpu.upload(b, 'b'), gpu.buffer(n * 4, 'out')];
    const step = gpu.step('add');
    add(step, ga, gb, out, n);
    step.end();
    const got = await gpu.readF32(out, 0, n);
    expect(got[n - 1]).toBeCloseTo(a[n - 1]! + b[n - 1]!, 6);
    expect(got[12345]).toBeCloseTo(a[12345]! + b[12345]!, 6);
  });
});
