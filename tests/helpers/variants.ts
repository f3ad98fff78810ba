// The devices a row-reduction kernel is tested on: the default one (subgroups where the adapter has
// them) and, when it does, a second device requested without the `subgroups` feature so that the
// workgroup-memory fallback runs too.

import { Gpu } from '../../src/device.js';
import { dawn } from '../../src/node/gpu.js';
import { testGpu } from './gpu.js';

let plain: Promise<Gpu> | undefined;
async function plainGpu(): Promise<Gpu> {
  const adapter = await dawn(['disable-dawn-features=timestamp_quantization']).requestAdapter();
  if (!adapter) throw new Error('no adapter');
  const limits: Record<string, number> = {};
  for (const n of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage'] as const) limits[n] = adapter.limits[n];
  return new Gpu(await adapter.requestDevice({ requiredLimits: limits }), { adapterInfo: adapter.info });
}

export async function gpuVariants(): Promise<{ name: string; gpu: Gpu }[]> {
  const gpu = await testGpu();
  if (!gpu.features.subgroups) return [{ name: 'workgroup', gpu }];
  plain ??= plainGpu();
  return [
    { name: 'subgroups', gpu },
    { name: 'workgroup', gpu: await plain },
  ];
}
