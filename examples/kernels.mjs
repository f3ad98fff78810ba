// @ts-check
// The kernels on a GPUDevice you own (another runtime's, here one made straight from Dawn): a
// Linear layer and Gemma's RMSNorm, checked against float64 on the CPU. Only the kernels entry is
// loaded, no model code.  Run: node examples/kernels.mjs
import { create, globals } from 'webgpu';
import { Gpu, linear, rmsNorm, toBf16, uploadWeight } from 'paligemma-webgpu/kernels';

// WebGPU's enums (GPUBufferUsage, …) as globals, as a browser has them.
Object.assign(globalThis, globals);
// Dawn-node must keep the object create() returned for as long as its devices live.
const dawn = create([]);
const adapter = await dawn.requestAdapter();
if (!adapter) throw new Error('no WebGPU adapter (on Linux without a GPU: install Mesa lavapipe)');
const device = await adapter.requestDevice();
// What WGSL offers here (read-only storage textures: CPU adapters keep weights in them).
const gpu = new Gpu(device, { wgslFeatures: dawn.wgslLanguageFeatures });

const M = 5, K = 72, N = 40, eps = 1e-6;
let seed = 1;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
const x = Float32Array.from({ length: M * K }, random);
const wWords = toBf16(Float32Array.from({ length: N * K }, random)); // a Linear weight [out, in], bf16
const nWords = toBf16(Float32Array.from({ length: N }, () => random() * 0.5)); // RMSNorm scale (Gemma: x·(1 + w))

const y = gpu.buffer(M * N * 4, 'y');
const z = gpu.buffer(M * N * 4, 'z');
const step = gpu.step('linear + rmsNorm');
linear(step, { x: gpu.upload(x, 'x'), w: uploadWeight(gpu, wWords, [N, K]), out: y, M, K, N });
rmsNorm(step, { x: y, w: uploadWeight(gpu, nWords, [N]), out: z, rows: M, dim: N, eps });
step.end();
const gotY = await gpu.readF32(y, 0, M * N);
const gotZ = await gpu.readF32(z, 0, M * N);

// float64 references from the exact bf16 values the GPU read.
const bf16 = (/** @type {number} */ word) => new Float32Array(new Uint32Array([word << 16]).buffer)[0];
const refY = new Float64Array(M * N);
for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
  let s = 0;
  for (let k = 0; k < K; k++) s += x[m * K + k] * bf16(wWords[n * K + k]);
  refY[m * N + n] = s;
}
const refZ = new Float64Array(M * N);
for (let m = 0; m < M; m++) {
  let ss = 0;
  for (let n = 0; n < N; n++) ss += refY[m * N + n] ** 2;
  const r = 1 / Math.sqrt(ss / N + eps);
  for (let n = 0; n < N; n++) refZ[m * N + n] = refY[m * N + n] * r * (1 + bf16(nWords[n]));
}
/** max|got − ref| / max|ref| */
const err = (/** @type {Float32Array} */ got, /** @type {Float64Array} */ ref) =>
  Math.max(...got.map((v, i) => Math.abs(v - ref[i]))) / Math.max(...ref.map(Math.abs));
const result = { linear: err(gotY, refY), rmsNorm: err(gotZ, refZ) };
console.log(JSON.stringify(result));
device.destroy();
if (!(result.linear < 1e-5 && result.rmsNorm < 1e-5)) {
  console.error('the kernels disagree with the float64 reference');
  process.exit(1);
}
