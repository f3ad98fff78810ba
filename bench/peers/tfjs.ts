// TensorFlow.js' WebGPU backend: tf.matMul(x, w, false, true) is our linear layer (w in PyTorch's
// [N, K] layout). In Node it runs on the same Dawn adapter as our kernels (host-node.ts passes
// Dawn's GPU object as navigator.gpu); in a page on navigator.gpu. Kernel time comes from tf.time()
// (tfjs' own timestamp queries), wall time from the call until those timestamps are back (output
// not read back). Like our device layer, mapAsync is held back while the work is expected to run,
// so Dawn-node's busy-poll does not steal a core from lavapipe — tfjs gets the same help our
// kernels get.

import { randomF32 } from '../data.js';
import type { PeerTiming } from '../host.js';
import { moreRuns, type RunOptions } from '../measure.js';
import { median, sleep } from '../stats.js';

export type Tf = typeof import('@tensorflow/tfjs-core');

/** tfjs with the WebGPU backend on whatever navigator.gpu is when this is first called. */
export async function tfjsWebgpu(): Promise<Tf> {
  const mod = await import('@tensorflow/tfjs-core');
  const tf = ((mod as { default?: Tf }).default ?? mod) as Tf;
  await import('@tensorflow/tfjs-backend-webgpu');
  // Small inputs would otherwise be computed on the CPU backend.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend failed to initialise');
  await tf.ready();
  return tf;
}

/** Delays every GPUBuffer.mapAsync by `ms()` (read at call time) while `f` runs. */
async function withMapDelay<T>(ms: () => number, f: () => Promise<T>): Promise<T> {
  const proto = GPUBuffer.prototype as { mapAsync: GPUBuffer['mapAsync'] };
  const orig = proto.mapAsync;
  proto.mapAsync = async function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
    const d = ms();
    if (d > 2) await sleep(d);
    return orig.apply(this, args);
  };
  try {
    return await f();
  } finally {
    proto.mapAsync = orig;
  }
}

export async function tfjsMatmul(tf: Tf, M: number, K: number, N: number, o: RunOptions): Promise<PeerTiming> {
  const x = tf.tensor2d(randomF32(M * K, 4), [M, K]);
  const w = tf.tensor2d(randomF32(N * K, 3, 0.05), [N, K]);
  let expect = 0;
  try {
    return await withMapDelay(
      () => expect,
      async () => {
        const kernel: number[] = [];
        const wall: number[] = [];
        const measured = () => (kernel.length === wall.length ? kernel : wall);
        for (let i = 0; i < o.warmup || moreRuns(o, measured()); i++) {
          let y: import('@tensorflow/tfjs-core').Tensor | undefined;
          const t0 = performance.now();
          const info = await tf.time(() => {
            y = tf.matMul(x, w, false, true);
          });
          const ms = performance.now() - t0;
          y?.dispose();
          expect = 0.9 * ms - 1;
          if (i < o.warmup) continue;
          wall.push(ms);
          if (typeof info.kernelMs === 'number' && info.kernelMs > 0) kernel.push(info.kernelMs);
        }
        const kernelMs = kernel.length === wall.length ? median(kernel) : undefined;
        return { ms: kernelMs ?? median(wall), runs: measured(), wallMs: median(wall), dispatches: 1, kernelMs };
      },
    );
  } finally {
    x.dispose();
    w.dispose();
  }
}
