// The kernel bench's host in a page: what a browser lets a page see of the machine, Uint8Array.set
// as the memcpy, tfjs-webgpu on navigator.gpu as the peer. No BLAS ceiling: onnxruntime-node is
// Node-only (its % BLAS columns stay blank; the read ceiling is measured as in Node).

import type { BenchHost } from '../host.js';
import type { Machine } from '../machine.js';
import { tfjsMatmul, tfjsWebgpu, type Tf } from '../peers/tfjs.js';

let tf: Promise<Tf> | undefined;

function machine(): Machine {
  const nav = navigator as Navigator & { deviceMemory?: number; userAgentData?: { platform?: string } };
  return {
    cpu: 'not exposed to pages',
    cores: nav.hardwareConcurrency ?? 0,
    // Browsers round deviceMemory down and cap it (8 GiB in Chrome); NaN (null in JSON) where absent.
    memGiB: nav.deviceMemory ?? NaN,
    os: nav.userAgentData?.platform || nav.platform || 'unknown',
    node: 'none (browser page)',
    load: [],
  };
}

export function browserHost(): BenchHost {
  return {
    platform: 'browser',
    machine,
    load: () => [],
    memcpyMethod: 'Uint8Array.set',
    memcpy: (src, dst) => dst.set(src),
    peers: { tfjs: async (M, K, N, o) => tfjsMatmul(await (tf ??= tfjsWebgpu()), M, K, N, o) },
  };
}
