// WebGPU in the browser: navigator.gpu.

import { gpuFrom, type GpuOptions } from '../adapter.js';
import type { Gpu } from '../device.js';

export function requestGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  return gpuFrom(gpu, opts, 'navigator.gpu', 'Use a browser with WebGPU enabled (Chrome/Edge 113+, or Firefox/Safari with WebGPU turned on).');
}
