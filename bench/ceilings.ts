// The machine's ceilings, measured in the same run as the kernels: a plain streaming-read WGSL
// kernel (the adapter's read bandwidth: what a GEMV can hope for), host memcpy (Buffer.copy), and
// the best BLAS-class f32 GEMM available (onnxruntime-node's MLAS on the CPU). The read is measured
// here on any platform; memcpy and BLAS through the host (host.ts).

import type { Gpu } from '../src/device.js';
import { params, paramsWgsl } from '../src/uniforms.js';
import type { Case } from './cases.js';
import { activation } from './data.js';
import { median } from './stats.js';
import { timeCase, timeSideBySide, type RunOptions, type Timing } from './measure.js';

const P = { n: 'u32', perLane: 'u32' } as const;
const WG = 64;

// Two plain layouts: 'strided' (neighbouring lanes read neighbouring words: what GPUs coalesce) and
// 'chunked' (each lane streams its own contiguous run: what a CPU's prefetcher likes). The best of
// the two is the read ceiling. Each lane XORs what it read and stores it so nothing is optimised away.
function readCode(layout: 'strided' | 'chunked'): string {
  const index = layout === 'strided' ? 'i * nLanes + lane' : 'lane * p.perLane + i';
  return /* wgsl */ `
${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read> src: array<vec4u>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let lane = gid.x;
  let nLanes = nwg.x * ${WG}u;
  var acc = vec4u(0u);
  for (var i = 0u; i < p.perLane; i++) {
    let j = ${index};
    if (j < p.n) { acc ^= src[j]; }
  }
  out[lane] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`;
}

function readCase(layout: 'strided' | 'chunked', bytes: number, groups: number): Case {
  const n = bytes / 16;
  const lanes = WG * groups;
  return {
    name: 'read',
    label: `streaming read (${layout})`,
    shape: { bytes },
    bytes,
    traffic: bytes,
    setup(gpu) {
      const src = activation(gpu, bytes / 4, 'read.src');
      const out = gpu.buffer(lanes * 4, 'read.out');
      const k = gpu.kernel({ name: `bench-read-${layout}`, bindings: ['read', 'write'], code: readCode(layout) });
      return {
        record: (step) => step.dispatch(k, [src, out], params({ n, perLane: Math.ceil(n / lanes) }, P), [groups]),
        destroy: () => {
          for (const b of [src, out]) (gpu.forgetBuffer(b), b.destroy());
        },
      };
    },
  };
}

export interface Ceilings {
  /** Best onnxruntime-node (MLAS) f32 GEMM rate seen in this run; NaN (null in JSON) where the platform has no BLAS (a browser page). */
  blas_gflops: number;
  blas_shape: { M: number; K: number; N: number };
  /** Best plain WGSL streaming read of `read_bytes` on the adapter. */
  read_gbps: number;
  read_bytes: number;
  /** Each layout's rate, measured before and after the kernels. */
  read_variants: { layout: string; when: 'before' | 'after'; gbps: number; runs: number[] }[];
  /** Host memcpy (Buffer.copy), bytes copied per second (count ×2 for read + write traffic). */
  memcpy_gbps: number;
  memcpy_runs_ms: number[];
  /** How the memcpy was done, where not Buffer.copy (a page: Uint8Array.set). */
  memcpy_method?: string;
}

/**
 * How much the read ceiling streams: 64 MiB on a CPU adapter (well past its caches, quick to run);
 * on a GPU as much as one binding takes up to 1 GiB, far past any L2 (an H200's is 60 MB).
 */
export function readCeilingBytes(gpu: Gpu): number {
  if (gpu.cpuAdapter) return 64 << 20;
  return Math.min(1 << 30, Math.floor(Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize) / (1 << 20)) << 20);
}

/** A GPU needs tens of thousands of lanes in flight to reach its bandwidth; lavapipe runs a few. */
function readGroups(gpu: Gpu): number {
  return gpu.cpuAdapter ? 1024 : 16384;
}

type ReadCeiling = Pick<Ceilings, 'read_gbps' | 'read_bytes' | 'read_variants'>;

export async function gpuRead(gpu: Gpu, bytes: number, o: RunOptions, when: 'before' | 'after'): Promise<ReadCeiling> {
  const variants: Ceilings['read_variants'] = [];
  const groups = readGroups(gpu);
  for (const layout of ['strided', 'chunked'] as const) {
    const t = await timeCase(gpu, readCase(layout, bytes, groups), o);
    variants.push({ layout, when, gbps: bytes / t.ms / 1e6, runs: t.runs });
  }
  return { read_gbps: Math.max(...variants.map((v) => v.gbps)), read_bytes: bytes, read_variants: variants };
}

/** The ceiling is the best rate measured, before or after. */
export function bestRead(a: ReadCeiling, b: ReadCeiling): ReadCeiling {
  return { read_gbps: Math.max(a.read_gbps, b.read_gbps), read_bytes: a.read_bytes, read_variants: [...a.read_variants, ...b.read_variants] };
}

/** A streaming read of a kernel's own bytes, timed beside it (besideRead). */
export interface SameBytesRead {
  /** The read's rate. */
  gbps: number;
  /** The kernel's rate over the same bytes, in the same rounds. */
  kernelGbps: number;
  /** Median over rounds of read time ÷ kernel time: the kernel's rate as a fraction of the read's. */
  ratio: number;
  rounds: number;
}

/** A GEMM timed beside the BLAS-class GEMM (besideBlas). */
export interface BlasBeside {
  /** The BLAS GEMM's rate (the ceiling's shape) in these rounds. */
  blasGflops: number;
  /** The GEMM's rate in the same rounds. */
  gflops: number;
  /** Median over rounds of the GEMM's rate ÷ BLAS's: the GEMM's fraction of the ceiling. */
  ratio: number;
  rounds: number;
}

/**
 * A GEMM case and the host's BLAS GEMM on `size`³, in turn round by round (o.runs rounds): the
 * share of the ceiling from rates measured under the same drift. The ceiling itself is measured
 * once, minutes away from most cases, and this VM's speed moves up to 2× in that time.
 */
export async function besideBlas(gpu: Gpu, c: Case, blas: (M: number, K: number, N: number, o: RunOptions) => Promise<Timing>, size: number, o: RunOptions): Promise<BlasBeside> {
  const blasMs: number[] = [];
  // Exactly o.runs rounds (no minMs), the case set up once: each round one GEMM run, then one BLAS run.
  const [t] = await timeSideBySide(gpu, [c], { warmup: 1, runs: o.runs }, async () => {
    blasMs.push((await blas(size, size, size, { warmup: 1, runs: 1 })).ms);
  });
  const ours = t!.runs.map((ms) => c.flops! / ms / 1e6);
  const theirs = blasMs.map((ms) => (2 * size ** 3) / ms / 1e6);
  return { blasGflops: median(theirs), gflops: median(ours), ratio: median(ours.map((g, i) => g / theirs[i]!)), rounds: ours.length };
}

/**
 * A kernel beside a streaming read of exactly `bytes` (the ceiling's best layout), run in turn
 * round by round: the read's GB/s, and the median per-round ratio of the read's time to the
 * kernel's — the kernel's rate as a fraction of the read's, both measured under the same drift.
 */
export async function besideRead(gpu: Gpu, c: Case, bytes: number, ceiling: ReadCeiling, o: RunOptions): Promise<SameBytesRead> {
  const layout = ceiling.read_variants.reduce((a, b) => (b.gbps > a.gbps ? b : a)).layout as 'strided' | 'chunked';
  const groups = readGroups(gpu);
  const [k, read] = await timeSideBySide(gpu, [c, readCase(layout, Math.ceil(bytes / 16) * 16, groups)], o);
  return { gbps: bytes / read!.ms / 1e6, kernelGbps: bytes / k!.ms / 1e6, ratio: median(k!.runs.map((ms, i) => read!.runs[i]! / ms)), rounds: k!.runs.length };
}
