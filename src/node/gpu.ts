// WebGPU in Node through Dawn (npm `webgpu`).

import { availableParallelism } from 'node:os';
import { create, globals } from 'webgpu';
import { gpuFrom, type GpuOptions } from '../adapter.js';
import type { Gpu } from '../device.js';
import { filterDawnStderr } from './quiet-dawn.js';

export interface NodeGpuOptions extends GpuOptions {
  /** Dawn's adapter name filter (`adapter=` in `create()`), e.g. "llvmpipe" or "NVIDIA". */
  adapter?: string;
  /** Dawn backend: vulkan, metal, d3d12, … */
  backend?: string;
  /** Extra Dawn flags, e.g. enable-dawn-features=disable_robustness. */
  dawnFlags?: string[];
}

// Dawn-node segfaults if the object create() returned is garbage-collected: keep each one for good.
const instances = new Map<string, GPU>();

export function dawn(flags: string[]): GPU {
  const key = flags.join(' ');
  let gpu = instances.get(key);
  if (!gpu) {
    Object.assign(globalThis, globals);
    gpu = create(flags) as GPU;
    instances.set(key, gpu);
  }
  return gpu;
}

const INSTALL_HINT =
  'On Debian 12 install Mesa lavapipe 25 from bookworm-backports (Debian\'s Mesa 22.3 is refused by Dawn): ' +
  'add the bookworm-backports suite to apt, then `apt-get install -t bookworm-backports mesa-vulkan-drivers`. ' +
  'On a machine with a GPU, install its Vulkan driver.';

export function requestGpu(opts: NodeGpuOptions = {}): Promise<Gpu> {
  // Chrome-style quantisation of timestamps would ruin per-kernel timings.
  const flags = ['disable-dawn-features=timestamp_quantization', ...(opts.dawnFlags ?? [])];
  if (opts.adapter) flags.push(`adapter=${opts.adapter}`);
  if (opts.backend) flags.push(`backend=${opts.backend}`);
  if (opts.device) return gpuFrom(undefined, { ...opts, wgslFeatures: opts.wgslFeatures ?? dawn(flags).wgslLanguageFeatures }, 'the given device', '');
  const tried = `Dawn from npm 'webgpu' with [${flags.join(', ')}]`;
  const instance = dawn(flags);
  // Adapter discovery prints Dawn's limit warnings: filtered out (quiet-dawn.ts).
  const quiet = { requestAdapter: (o?: GPURequestAdapterOptions) => filterDawnStderr(() => instance.requestAdapter(o)), wgslLanguageFeatures: instance.wgslLanguageFeatures };
  // Helpers hand their pipelines over through Mesa's shader cache: none without one.
  const cacheOff = /^(1|true|yes)$/i.test(process.env.MESA_SHADER_CACHE_DISABLE ?? '');
  const compileHelpers = opts.compileHelpers ?? (cacheOff ? 0 : availableParallelism() - 1);
  return gpuFrom(quiet, { ...opts, compileHelpers }, tried, INSTALL_HINT);
}
