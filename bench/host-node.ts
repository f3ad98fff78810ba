// The kernel bench's host in Node: os load averages, Buffer.copy, onnxruntime-node (MLAS) as the
// BLAS ceiling and a peer, and tfjs-webgpu on the same Dawn instance and adapter as our Gpu.

import { loadavg } from 'node:os';
import { dawn } from '../src/node/gpu.js';
import type { BenchHost } from './host.js';
import { machine } from './machine.js';
import { ortMatmul } from './peers/ort.js';
import { tfjsMatmul, tfjsWebgpu, type Tf } from './peers/tfjs.js';

let tfReady: Promise<Tf> | undefined;

/** tfjs with the WebGPU backend on the Dawn instance made with `flags` (the one our Gpu uses). */
function loadTf(flags: string[]): Promise<Tf> {
  tfReady ??= (() => {
    // Node 20 has no navigator; newer Node has one without gpu. tfjs checks navigator.gpu when imported.
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawn(flags) }, configurable: true, writable: true });
    return tfjsWebgpu();
  })();
  return tfReady;
}

/** `dawnFlags`: the flags of the Dawn instance the Gpu came from (tfjs must share it). */
export function nodeHost(dawnFlags: string[]): BenchHost {
  return {
    platform: 'node',
    machine,
    load: () => loadavg().map((x) => Math.round(x * 100) / 100),
    memcpyMethod: 'Buffer.copy',
    memcpy: (src, dst) => void Buffer.from(src.buffer, src.byteOffset, src.byteLength).copy(dst),
    blasGemm: ortMatmul,
    peers: {
      tfjs: async (M, K, N, o) => tfjsMatmul(await loadTf(dawnFlags), M, K, N, o),
      ort: ortMatmul,
    },
  };
}
