// Getting a device: the caller's own GPUDevice (library mode), or one requested from a GPU object
// (navigator.gpu in the browser, Dawn in Node) with the adapter's limits asked for explicitly —
// without requiredLimits a device only gets the spec defaults (128 MiB bindings, 16 KiB workgroup memory).

import { Gpu, GpuError, isCpuAdapter } from './device.js';

export interface GpuOptions {
  /** Use this device as is (library mode). */
  device?: GPUDevice;
  /**
   * With `device`: the wgslLanguageFeatures of the GPU object it came from (default: navigator.gpu's;
   * Node's requestGpu: Dawn's). CPU adapters keep weights in read-only storage textures where WGSL has them.
   */
  wgslFeatures?: ReadonlySet<string>;
  powerPreference?: GPUPowerPreference;
  /** Per-dispatch timestamp queries (when the adapter has timestamp-query). */
  profile?: boolean;
  /**
   * CPU adapters: how many more devices compile pipelines beside this one, each on its own core
   * (Gpu.compile). Default 0; Node's requestGpu: one fewer than the cores.
   */
  compileHelpers?: number;
}

const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxUniformBufferBindingSize',
  'maxComputeWorkgroupsPerDimension',
  'maxTextureDimension2D',
  'maxTextureArrayLayers',
] as const;

export async function gpuFrom(gpu: (Pick<GPU, 'requestAdapter'> & Partial<Pick<GPU, 'wgslLanguageFeatures'>>) | undefined, opts: GpuOptions, tried: string, howToFix: string): Promise<Gpu> {
  if (opts.device) return new Gpu(opts.device, { profile: opts.profile, wgslFeatures: opts.wgslFeatures });
  if (!gpu) throw new GpuError(`WebGPU is not available (tried ${tried}). ${howToFix}`);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  } catch (e) {
    throw new GpuError(`No WebGPU adapter found (tried ${tried}: ${(e as Error).message}). ${howToFix}`);
  }
  if (!adapter) throw new GpuError(`No WebGPU adapter found (tried ${tried}). ${howToFix}`);
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  // A device consumes its adapter: each helper asks for an adapter of its own (the same one). Made
  // now, not while work is pending: Dawn-node let the process end mid-compile when an adapter was
  // requested while the device's work was in flight.
  const helpers: GPUDevice[] = [];
  for (let i = 0; i < (opts.compileHelpers ?? 0) && isCpuAdapter(adapter.info); i++) {
    const a = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
    const d = await a?.requestDevice({ requiredFeatures, requiredLimits }).catch(() => undefined);
    if (d) helpers.push(d);
  }
  return new Gpu(device, { adapterInfo: adapter.info, profile: opts.profile, compileHelpers: helpers, wgslFeatures: gpu.wgslLanguageFeatures });
}

/** A one-line description of the adapter for reports. */
export function describeAdapter(gpu: Gpu): Record<string, unknown> {
  const info = gpu.adapterInfo;
  const l = gpu.limits;
  return {
    vendor: info?.vendor,
    architecture: info?.architecture,
    device: info?.device,
    description: info?.description,
    subgroupMinSize: (info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize,
    subgroupMaxSize: (info as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize,
    features: gpu.features,
    limits: Object.fromEntries(WANTED_LIMITS.map((n) => [n, l[n]])),
  };
}
