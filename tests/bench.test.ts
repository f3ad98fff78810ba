// The kernels bench in --quick mode (tiny shapes): the JSON report has the fields other tools read.
// No timing assertions: only that every number is there and positive.

import { describe, expect, it } from 'vitest';
import { benchKernels } from '../bench/kernels.js';
import { nodeHost } from '../bench/host-node.js';
import { kernelsReportErrors } from '../bench/schema.js';
import { kernelCases } from '../bench/cases.js';
import { moreRuns, timeCase, timeSideBySide, timingSource } from '../bench/measure.js';
import { matmulModel } from '../bench/onnx-model.js';
import { loadOrt } from '../bench/peers/ort.js';
import { requestGpu } from '../src/node/gpu.js';

describe('bench kernels --quick', () => {
  it('writes a MatMul model onnxruntime runs correctly', async () => {
    const { InferenceSession, Tensor } = await loadOrt();
    const b = Float32Array.from({ length: 8 }, (_, i) => i); // [4, 2]
    const s = await InferenceSession.create(matmulModel(3, 4, 2, b));
    const a = Float32Array.from({ length: 12 }, (_, i) => i % 3);
    const y = (await s.run({ a: new Tensor('float32', a, [3, 4]) })).y!;
    expect(y.dims).toEqual([3, 2]);
    expect(Array.from(y.data as Float32Array)).toEqual([10, 13, 10, 14, 16, 21]);
    await s.release();
  });

  it('measures short kernels on until enough time is measured, within the most runs', () => {
    const o = { warmup: 1, runs: 3, minMs: 10, maxRuns: 6 };
    expect(moreRuns(o, [5, 5])).toBe(true);
    expect(moreRuns(o, [1, 1, 1])).toBe(true);
    expect(moreRuns(o, [5, 5, 5])).toBe(false);
    expect(moreRuns(o, [1, 1, 1, 1, 1, 1])).toBe(false);
    expect(moreRuns({ warmup: 1, runs: 3 }, [1, 1, 1])).toBe(false);
  });

  it('times cases side by side: each round runs every case once, short ones on for all', async () => {
    const gpu = await requestGpu({ profile: true });
    const [rope, norm] = ['rope', 'rms-norm'].map((n) => kernelCases(true).find((c) => c.name === n)!);
    const ts = await timeSideBySide(gpu, [rope!, norm!], { warmup: 1, runs: 2, minMs: 1e9, maxRuns: 4 });
    expect(ts.map((t) => t.runs.length)).toEqual([4, 4]);
    for (const t of ts) expect(t.dispatches).toBeGreaterThan(0);
    gpu.destroy();
  });

  it('times kernels by the wall clock where the adapter gives no timestamps, and counts their dispatches', async () => {
    const gpu = await requestGpu({ profile: false });
    expect(timingSource(gpu)).toBe('wall');
    const rope = kernelCases(true).find((c) => c.name === 'rope')!;
    const t = await timeCase(gpu, rope, { warmup: 1, runs: 2 });
    expect(t.runs.length).toBe(2);
    expect(t.ms).toBeGreaterThan(0);
    expect(t.dispatches).toBe(1);
    gpu.destroy();
  });

  it('reports kernels, ceilings, peers and targets', async () => {
    const gpu = await requestGpu({ profile: true });
    // BENCH_TEST_SKIP=attention,… leaves out kernels that are mid-rewrite (the rest still gets checked).
    const skip = process.env.BENCH_TEST_SKIP?.split(',');
    const r = JSON.parse(JSON.stringify(await benchKernels(gpu, { quick: true, peers: ['tfjs', 'ort'], host: nodeHost(['disable-dawn-features=timestamp_quantization']), command: 'test', runs: 1, skip, quantize: ['int4'] })));
    // The schema the bench page's JSON is checked against too.
    expect(kernelsReportErrors(r)).toEqual([]);
    expect(r).toMatchObject({ platform: 'node', timing: 'gpu-timestamps' });
    expect(r.adapter.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    for (const k of ['blas_gflops', 'read_gbps', 'memcpy_gbps']) expect(r.ceilings[k]).toBeGreaterThan(0);
    // The read ceiling is measured before and after the kernels; the best rate is the ceiling.
    const reads: { when: string; gbps: number }[] = r.ceilings.read_variants;
    expect(reads.map((v) => v.when)).toEqual(['before', 'before', 'after', 'after']);
    expect(r.ceilings.read_gbps).toBe(Math.max(...reads.map((v) => v.gbps)));
    // GEMVs within the ceiling's size also stand beside a read of their own bytes.
    const gemvs = r.kernels.filter((k: { name: string }) => k.name === 'gemv');
    expect(gemvs.length).toBeGreaterThan(0);
    // GEMVs within the ceiling's size are timed again in turn with a read of their own bytes.
    for (const k of gemvs) {
      if (k.gbps * k.ms * 1e6 > r.ceilings.read_bytes) continue;
      const s = k.readSameBytes;
      for (const v of [s.gbps, s.kernelGbps, s.ratio]) expect(v).toBeGreaterThan(0);
      expect(s.rounds).toBeGreaterThanOrEqual(1);
    }
    expect(r.targets.some((t: { what: string; goal: number }) => /GEMV vs a read of as many bytes, side by side/.test(t.what) && t.goal === 0.6)).toBe(true);
    // Every GEMM is timed again in turn with the BLAS GEMM of the ceiling (its share of it under the same drift).
    for (const k of r.kernels.filter((k: { name: string }) => k.name.startsWith('matmul'))) {
      const b = k.blasBeside;
      for (const v of [b.blasGflops, b.gflops, b.ratio]) expect(v).toBeGreaterThan(0);
      expect(b.rounds).toBe(r.runs.runs);
      expect(r.targets.some((t: { what: string; goal: number; measured: number }) => t.what === `${k.label}: GEMM % of BLAS, side by side` && t.goal === 25 && t.measured === 100 * b.ratio)).toBe(true);
    }
    const names = r.kernels.map((k: { name: string }) => k.name);
    for (const n of ['matmul', 'gemv', 'matmul-geglu', 'rms-norm', 'layer-norm', 'rope', 'geglu', 'conv2d', 'conv-transpose2d', 'mask-decoder']) expect(names).toContain(n);
    for (const k of r.kernels) {
      expect(k.ms).toBeGreaterThan(0);
      expect(k.gflops ?? k.gbps).toBeGreaterThan(0);
      expect(Object.keys(k.shape).length).toBeGreaterThan(0);
    }
    // --quantize: each matmul case's int4 twin right after it, its GB/s over its own (fewer) bytes.
    const i = r.kernels.findIndex((k: { name: string; format: string }) => k.name === 'gemv' && k.format === 'bf16');
    const twin = r.kernels[i + 1];
    expect(twin).toMatchObject({ name: 'gemv', format: 'int4', label: `${r.kernels[i].label} (int4)`, shape: r.kernels[i].shape });
    expect(twin.gbps * twin.ms).toBeLessThan(0.35 * r.kernels[i].gbps * r.kernels[i].ms);
    expect(r.targets.some((t: { what: string }) => t.what === `${twin.label}: time ÷ bf16's (reported, no goal)`)).toBe(true);
    const gemm = r.kernels.find((k: { name: string }) => k.name === 'matmul');
    expect(Object.keys(gemm.shape)).toEqual(['M', 'K', 'N']);
    // Matmul cases name the variant that ran on the weights as the model prepares them.
    for (const k of r.kernels.filter((k: { name: string }) => /^(matmul|gemv)/.test(k.name))) expect(k.variant).toMatch(/^(texture|lanes|tiled|gemv)$/);
    expect(r.peerErrors).toEqual([]);
    for (const peer of ['tfjs-webgpu', 'onnxruntime-cpu']) {
      const ps = r.peers.filter((p: { name: string }) => p.name === peer);
      expect(ps.map((p: { kernel: string }) => p.kernel).sort()).toEqual(['gemv', 'matmul']);
      for (const p of ps) expect(p.ms).toBeGreaterThan(0);
    }
    expect(r.targets.length).toBeGreaterThan(0);
  });
});
