// ONNX Runtime (onnxruntime-node, CPU execution provider = MLAS): one MatMul with a constant
// weight, timed by wall clock around session.run (CPU work, so wall time is compute time). It is
// both a peer and the machine's BLAS-class f32 GEMM ceiling. It uses every core: never run it
// while GPU work (lavapipe, also on the CPU) is in flight.

import { matmulModel } from '../onnx-model.js';
import { randomF32 } from '../data.js';
import { median } from '../stats.js';
import { moreRuns, type RunOptions, type Timing } from '../measure.js';

type Ort = typeof import('onnxruntime-node');
let ort: Promise<Ort> | undefined;

/** Loads onnxruntime-node (a devDependency) or throws why it cannot. */
export function loadOrt(): Promise<Ort> {
  ort ??= import('onnxruntime-node').then((m) => ((m as { default?: Ort }).default ?? m) as Ort);
  return ort;
}

export async function ortMatmul(M: number, K: number, N: number, o: RunOptions): Promise<Timing> {
  const { InferenceSession, Tensor } = await loadOrt();
  const session = await InferenceSession.create(matmulModel(M, K, N, randomF32(K * N, 3, 0.05)), { graphOptimizationLevel: 'all' });
  try {
    const feeds = { a: new Tensor('float32', randomF32(M * K, 4), [M, K]) };
    const runs: number[] = [];
    for (let i = 0; i < o.warmup || moreRuns(o, runs); i++) {
      const t0 = performance.now();
      await session.run(feeds);
      const ms = performance.now() - t0;
      if (i >= o.warmup) runs.push(ms);
    }
    return { ms: median(runs), runs, wallMs: median(runs), dispatches: 1 };
  } finally {
    await session.release();
  }
}
