// The device layer: uniform slots per dispatch, bind-group and pipeline caches, profiling, and
// errors that surface instead of being swallowed.

import { describe, expect, it } from 'vitest';
import { Gpu, GpuError } from '../src/device.js';
import { requestGpu } from '../src/node/gpu.js';
import { params, paramsWgsl } from '../src/uniforms.js';
import { READ_TEXTURE } from '../src/kernels/weight-texture.js';
import { matmulPlan } from '../src/kernels/matmul.js';
import { usesAttentionMatmul } from '../src/kernels/attention-matmul.js';
import type { AttentionArgs } from '../src/kernels/attention.js';
import { testGpu } from './helpers/gpu.js';

const P = { index: 'u32', value: 'f32' } as const;
const WRITE_ONE = {
  name: 'test-write-one',
  bindings: ['write'] as const,
  code: `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1) fn main() { out[p.index] = p.value; }`,
};

describe('device layer', () => {
  it('gives every dispatch its own uniform slot, across submits and a wrap of the arena', async () => {
    const gpu = await testGpu();
    const n = 9000; // more dispatches than the arena has slots, so it wraps within one step
    const out = gpu.buffer(n * 4, 'out');
    const k = gpu.kernel({ ...WRITE_ONE, bindings: [...WRITE_ONE.bindings] });
    const step = gpu.step('many');
    for (let i = 0; i < n; i++) step.dispatch(k, [out], params({ index: i, value: i * 0.5 }, P), [1]);
    step.end();
    const got = await gpu.readF32(out, 0, n);
    expect(Array.from(got)).toEqual(Array.from({ length: n }, (_, i) => i * 0.5));
  });

  it('compiles a kernel once and builds a bind group once per buffer set', async () => {
    const gpu = await testGpu();
    const def = { ...WRITE_ONE, bindings: [...WRITE_ONE.bindings] };
    expect(gpu.kernel(def)).toBe(gpu.kernel({ ...def }));
    const a = gpu.buffer(16, 'a');
    const b = gpu.buffer(16, 'b');
    const k = gpu.kernel(def);
    expect(gpu.bindGroup(k, [a])).toBe(gpu.bindGroup(k, [a]));
    expect(gpu.bindGroup(k, [a])).not.toBe(gpu.bindGroup(k, [b]));
    expect(gpu.bindGroup(k, [{ buffer: a, offset: 0, size: 16 }])).toBe(gpu.bindGroup(k, [a]));
  });

  it('shares a scratch buffer per label, grown to the largest request', async () => {
    const gpu = await testGpu();
    const a = gpu.scratch('test scratch a', 1000);
    expect(a.size).toBeGreaterThanOrEqual(1000);
    expect(gpu.scratch('test scratch a', 200)).toBe(a);
    expect(gpu.scratch('test scratch b', 200)).not.toBe(a);
    const grown = gpu.scratch('test scratch a', 5000);
    expect(grown).not.toBe(a);
    expect(grown.size).toBeGreaterThanOrEqual(5000);
    expect(gpu.scratch('test scratch a', 1000)).toBe(grown);
    const u = gpu.scratch('test scratch u', 256, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    expect(u.usage).toBe(GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  });

  it('reports per-dispatch GPU time when profiling', async () => {
    const gpu = await requestGpu({ profile: true });
    if (!gpu.features.timestamps) return; // nothing to profile on this adapter
    const out = gpu.buffer(64, 'out');
    const k = gpu.kernel({ ...WRITE_ONE, bindings: [...WRITE_ONE.bindings] });
    const step = gpu.step('profiled');
    for (let i = 0; i < 3; i++) step.dispatch(k, [out], params({ index: i, value: 1 }, P), [1], `write-${i}`);
    step.end();
    await gpu.finish();
    const t = await gpu.profiler!.collect();
    expect(t.map((x) => x.label)).toEqual(['write-0', 'write-1', 'write-2']);
    expect(t.every((x) => x.ms >= 0 && x.ms < 1000)).toBe(true);
  });

  it('profiles copies too, as entries of their own marked as copies', async () => {
    const gpu = await requestGpu({ profile: true });
    if (!gpu.features.timestamps) return;
    const src = gpu.upload(new Float32Array(4096).fill(1), 'src');
    const dst = gpu.buffer(4096 * 4, 'dst');
    const tex = gpu.device.createTexture({ size: [16, 4], format: 'rgba32uint', usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.TEXTURE_BINDING });
    const k = gpu.kernel({ ...WRITE_ONE, bindings: [...WRITE_ONE.bindings] });
    const step = gpu.step('profiled copies');
    step.copy(src, 0, dst, 0, 4096 * 4);
    step.dispatch(k, [dst], params({ index: 0, value: 2 }, P), [1], 'write');
    step.copyToTexture(src, 0, 256, tex, 16, 4, 0, 0);
    step.end();
    await gpu.finish();
    const t = await gpu.profiler!.collect();
    expect(t.map((x) => [x.label, x.copy ?? false])).toEqual([['copy', true], ['write', false], ['copy-to-texture', true]]);
    expect(t.every((x) => x.ms >= 0 && x.ms < 1000)).toBe(true);
    expect(Array.from(await gpu.readF32(dst, 0, 2))).toEqual([2, 1]);
    gpu.destroy();
  });

  it('surfaces WGSL errors with the kernel name', async () => {
    const gpu = await requestGpu();
    gpu.kernel({ name: 'broken-kernel', bindings: [], code: '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }' });
    await expect(gpu.finish()).rejects.toThrow(/kernel broken-kernel/);
  });

  // Recorded kernels are created asynchronously: the error comes from compile(), and a later use.
  it('surfaces WGSL errors of a recorded kernel with its name, from compile() and from a dispatch', async () => {
    const gpu = await requestGpu();
    gpu.asyncCreate = true; // as on a GPU
    const broken = { name: 'broken-recorded', bindings: [], code: '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }' };
    const r = gpu.record('broken', (s) => s.dispatch(gpu.kernel(broken), [], undefined, [1]));
    await expect(gpu.compile([r])).rejects.toThrow(/kernel broken-recorded/);
    expect(() => gpu.step('again').dispatch(gpu.kernel(broken), [], undefined, [1])).toThrow(/kernel broken-recorded/);
  });

  it('creates a recorded kernel while recording goes on, and runs it as one made at once', async () => {
    const gpu = await requestGpu();
    gpu.asyncCreate = true;
    const def = { name: 'write-seven', bindings: ['write'] as const, code: '@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n@compute @workgroup_size(1) fn main() { o[0] = 7u; }' };
    const out = gpu.buffer(4, 'out');
    const r = gpu.record('seven', (s) => s.dispatch(gpu.kernel({ ...def, bindings: [...def.bindings] }), [out], undefined, [1]));
    // Replayed before compile() waited for its pipeline: made on the spot.
    const step = gpu.step('seven');
    step.replay(r);
    step.end();
    expect(Array.from(new Uint32Array(await gpu.read(out)))).toEqual([7]);
    expect((await gpu.compile([r])).pipelines).toBe(0);
  });

  it('turns a lost device into an error on the next use, and on a pending wait', async () => {
    const gpu = await requestGpu();
    const buf = gpu.buffer(16, 'x');
    gpu.device.destroy();
    await expect(gpu.read(buf)).rejects.toThrow(GpuError);
    expect(() => gpu.step('after loss')).toThrow(/GPU device lost/);
  });

  it('explains what was tried and how to install a driver when there is no adapter', async () => {
    await expect(requestGpu({ adapter: 'no-such-adapter-anywhere' })).rejects.toThrow(
      /No WebGPU adapter found \(tried Dawn from npm 'webgpu'.*adapter=no-such-adapter-anywhere.*mesa-vulkan-drivers/s,
    );
  });

  it('takes a caller-supplied device as is (library mode)', async () => {
    const own = await testGpu();
    const gpu = await requestGpu({ device: own.device });
    expect(gpu).toBeInstanceOf(Gpu);
    expect(gpu.device).toBe(own.device);
    // What WGSL offers comes from Dawn's GPU object, as for a device requestGpu makes.
    expect(gpu.features.readTextures).toBe(own.features.readTextures);
  });

  // The weight textures are read-only storage textures, a WGSL language feature: a CPU adapter
  // whose GPU object lacks it keeps weights in buffers and runs attention without textures.
  it('keeps weights in buffers on a CPU adapter without read-only storage textures', async () => {
    const own = await testGpu();
    const args = { seqQ: 40, heads: 8, kvHeads: 1, headDim: 16 } as AttentionArgs;
    const without = new Gpu(own.device, { adapterInfo: own.adapterInfo, wgslFeatures: new Set() });
    const withIt = new Gpu(own.device, { adapterInfo: own.adapterInfo, wgslFeatures: new Set(['readonly_and_readwrite_storage_textures']) });
    expect([without.features.readTextures, withIt.features.readTextures]).toEqual([false, true]);
    if (!own.cpuAdapter) return;
    expect([matmulPlan(without).layout, matmulPlan(withIt).layout]).toEqual(['buffer', 'texture']);
    expect(usesAttentionMatmul(without, args)).toBe(false);
    expect(usesAttentionMatmul(withIt, args)).toBe(usesAttentionMatmul(own, args));
  });

  it('compiles beside a helper device on a CPU adapter (every binding kind), and without its help when it fails', async () => {
    const gpu = await requestGpu({ compileHelpers: 1 });
    if (!gpu.cpuAdapter) return; // helpers serve lavapipe's one compile thread per device
    expect(gpu.helpers.length).toBe(1);
    // A salt per run keeps these pipelines out of Mesa's shader cache: the helper compiles them for real.
    const salt = Math.floor(Math.random() * 1e9);
    const texture = gpu.device.createTexture({ size: [1, 1, 1], format: 'rgba32uint', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST });
    gpu.device.queue.writeTexture({ texture }, new Uint32Array([7, 0, 0, 0]), { bytesPerRow: 16 }, [1, 1, 1]);
    const view = texture.createView({ dimension: '2d-array' });
    const src = gpu.upload(new Float32Array([3]), 'src');
    const uni = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    gpu.device.queue.writeBuffer(uni, 0, new Float32Array([5, 0, 0, 0]));
    const kernels = [
      { name: `test-read-${salt}`, bindings: ['read', 'write'], code: `@group(0) @binding(0) var<storage, read> a: array<f32>;\n@group(0) @binding(1) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = a[0] + ${salt}.0 * 0.0; }`, take: [src] },
      { name: `test-uniform-${salt}`, bindings: ['uniform', 'write'], code: `@group(0) @binding(0) var<uniform> u: vec4f;\n@group(0) @binding(1) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = u.x + ${salt}.0 * 0.0; }`, take: [uni] },
      { name: `test-texture-${salt}`, bindings: ['texture', 'write'], code: `@group(0) @binding(0) var t: ${READ_TEXTURE};\n@group(0) @binding(1) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = f32(textureLoad(t, vec2u(0u), 0u).x) + ${salt}.0 * 0.0; }`, take: [view] },
      { name: `test-store-${salt}`, bindings: ['storage-texture', 'write'], code: `@group(0) @binding(0) var t: texture_storage_2d_array<rgba32uint, write>;\n@group(0) @binding(1) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = 9.0 + ${salt}.0 * 0.0; }`, take: [gpu.device.createTexture({ size: [1, 1, 1], format: 'rgba32uint', usage: GPUTextureUsage.STORAGE_BINDING }).createView({ dimension: '2d-array' })] },
    ] as const;
    const run = async (g: Gpu) => {
      const outs = kernels.map((_, i) => g.buffer(4, `out ${i}`));
      const ks = kernels.map((d) => g.kernel({ name: d.name, bindings: [...d.bindings], code: d.code }));
      const recording = g.record('compile test', (s) => ks.forEach((k, i) => s.dispatch(k, [...kernels[i]!.take, outs[i]!], undefined, [1])));
      const stats = await g.compile([recording]);
      expect(stats.pipelines).toBe(kernels.length);
      const step = g.step('run');
      step.replay(recording);
      step.end();
      return Promise.all(outs.map(async (o) => (await g.readF32(o, 0, 1))[0]));
    };
    expect(await run(gpu)).toEqual([3, 5, 7, 9]);
    expect(gpu.helpers[0]!.compiled.pipelines).toBe(kernels.length);
    // A helper whose device is gone: the compile is this device's alone, and still complete.
    const dead = (await requestGpu({ compileHelpers: 0 })).device;
    dead.destroy();
    const alone = new Gpu(gpu.device, { adapterInfo: gpu.adapterInfo, compileHelpers: [dead] });
    expect(await run(alone)).toEqual([3, 5, 7, 9]);
  });

  // Each lavapipe device brings its threads: a test file making Gpus one after another crashed its
  // worker while destroy() left the helpers' devices alive.
  it('destroy() destroys the compile helpers it was given, and leaves the device to its owner', async () => {
    const gpu = await requestGpu({ compileHelpers: 1 });
    const helpers = gpu.helpers.map((h) => h.device);
    gpu.destroy();
    for (const d of helpers) expect((await d.lost).reason).toBe('destroyed');
    const again = new Gpu(gpu.device);
    expect(Array.from(await again.readF32(again.upload(new Float32Array([4, 2]), 'x')))).toEqual([4, 2]);
    again.destroy();
    gpu.device.destroy();
  });
});
