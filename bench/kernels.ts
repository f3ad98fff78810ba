// `paligemma bench kernels`: our kernels on PaliGemma's shapes, the machine's ceilings and the
// peers (tfjs WebGPU, onnxruntime CPU), all in one run, one thing at a time (lavapipe and ORT
// both use every core). Platform-neutral: what only Node or only a page can do comes through the
// host (host.ts), so the bench page (page/) runs this same function on navigator.gpu.

import type { Gpu } from '../src/device.js';
import type { Quantization } from '../src/weights.js';
import { describeAdapter } from '../src/adapter.js';
import { kernelCases } from './cases.js';
import { besideBlas, besideRead, bestRead, gpuRead, readCeilingBytes, type BlasBeside, type Ceilings, type SameBytesRead } from './ceilings.js';
import { hostMemcpy, type BenchHost, type PeerName } from './host.js';
import type { Machine } from './machine.js';
import { runOptions, timeCase, timingSource, type RunOptions, type Timing, type TimingSource } from './measure.js';
import { kernelTargets, type Target } from './targets.js';

export type { PeerName };

export interface KernelResult {
  name: string;
  label: string;
  shape: Record<string, number>;
  /** Median GPU time (timestamp queries). */
  ms: number;
  runs: number[];
  wallMs: number;
  dispatches: number;
  /** Matmul cases: the variant that ran ('texture', 'lanes', 'tiled', 'gemv'), on weights laid out as the model lays them out. */
  variant?: string;
  /** Matmul cases: the weights' format (bf16, int8, int4). */
  format?: string;
  /** Least bytes the kernel must move (for the roofline). */
  traffic: number;
  gflops?: number;
  gbps?: number;
  /**
   * GEMVs within the read ceiling's size: the GEMV timed again in turn with a streaming read of
   * exactly its weight bytes (a dispatch's fixed cost weighs on 1 MiB as on any 1 MiB kernel).
   */
  readSameBytes?: SameBytesRead;
  /** GEMMs (M > 1), where the host has a BLAS: timed again in turn with the BLAS GEMM of the ceiling. */
  blasBeside?: BlasBeside;
}

export interface PeerResult {
  name: 'tfjs-webgpu' | 'onnxruntime-cpu';
  /** Which of our kernels it stands beside (`matmul` or `gemv`). */
  kernel: string;
  label: string;
  shape: { M: number; K: number; N: number };
  ms: number;
  runs: number[];
  wallMs: number;
  /** What `ms` is: GPU timestamps (tfjs kernel time) or wall clock (ORT on the CPU). */
  timing: 'gpu-timestamps' | 'wall';
  gflops: number;
  gbps?: number;
}

export interface KernelsReport {
  date: string;
  command: string;
  /** Where it ran (absent in reports before the bench page: node). */
  platform?: 'node' | 'browser';
  /** What kernel `ms` is: timestamp queries, or wall clock on an adapter without timestamp-query. */
  timing?: TimingSource;
  /** The page's browser (bench page only). */
  browser?: { userAgent: string; language?: string };
  machine: Machine;
  adapter: Record<string, unknown>;
  runs: RunOptions;
  ceilings: Ceilings;
  kernels: KernelResult[];
  peers: PeerResult[];
  /** Peers that could not run, and why. */
  peerErrors: { name: string; error: string }[];
  targets: Target[];
}

export class BenchStopped extends Error {
  constructor() {
    super('bench stopped');
  }
}

export interface KernelsOptions {
  quick: boolean;
  peers: PeerName[];
  /** The platform's machine info, memcpy, BLAS ceiling and peers (host-node.ts, page/host.ts). */
  host: BenchHost;
  command: string;
  runs?: number;
  /** Kernel names to leave out (e.g. one being rewritten). */
  skip?: string[];
  /** Quantized twins of every matmul case on a quantized weight (--quantize). */
  quantize?: Quantization[];
  log?: (line: string) => void;
  /** Called before each measured thing: `done` of `total` are finished. */
  progress?: (done: number, total: number) => void;
  /** Aborting stops the run before the next measured thing (benchKernels throws BenchStopped). */
  signal?: AbortSignal;
}

function rates(t: Timing, flops?: number, bytes?: number): { gflops?: number; gbps?: number } {
  return { gflops: flops ? flops / t.ms / 1e6 : undefined, gbps: bytes ? bytes / t.ms / 1e6 : undefined };
}

export async function benchKernels(gpu: Gpu, o: KernelsOptions): Promise<KernelsReport> {
  const host = o.host;
  const runs = runOptions(o.runs);
  const loadBefore = host.machine();
  const cases = kernelCases(o.quick, o.quantize).filter((c) => !o.skip?.includes(c.name));
  const peerCases = cases.filter((c) => c.peer);
  const peerNames = o.peers.filter((p) => {
    if (host.peers[p]) return true;
    o.log?.(`peer ${p}: not available on ${host.platform}`);
    return false;
  });
  const gemvReads = cases.filter((c) => c.name.startsWith('gemv') && c.bytes);
  const gemms = host.blasGemm ? cases.filter((c) => c.name.startsWith('matmul')) : [];
  const total = 2 + cases.length + gemvReads.length + peerNames.length * peerCases.length + 2 + gemms.length;
  let done = 0;
  const log = (line: string) => {
    if (o.signal?.aborted) throw new BenchStopped();
    o.progress?.(done++, total);
    o.log?.(line);
  };

  // The read ceiling before and after our kernels: a CPU adapter's speed drifts over minutes.
  const readBytes = o.quick ? 4 << 20 : readCeilingBytes(gpu);
  log('ceiling: WGSL streaming read');
  const readBefore = await gpuRead(gpu, readBytes, runs, 'before');

  const kernels: KernelResult[] = [];
  for (const c of cases) {
    log(`kernel ${c.name}: ${c.label}`);
    const t = await timeCase(gpu, c, runs);
    kernels.push({ name: c.name, label: c.label, shape: c.shape, variant: t.variant, format: c.format, ms: t.ms, runs: t.runs, wallMs: t.wallMs, dispatches: t.dispatches, traffic: c.traffic, ...rates(t, c.flops, c.bytes) });
  }

  log('ceiling: WGSL streaming read, again');
  const read = bestRead(readBefore, await gpuRead(gpu, readBytes, runs, 'after'));
  for (const k of kernels) {
    const bytes = cases.find((c) => c.label === k.label)!.bytes;
    if (!k.name.startsWith('gemv') || !bytes) continue;
    if (bytes > readBytes) {
      done++;
      continue;
    }
    log(`ceiling: ${k.label} beside a WGSL streaming read of its ${bytes} bytes`);
    k.readSameBytes = await besideRead(gpu, cases.find((c) => c.label === k.label)!, bytes, read, runs);
  }

  const peers: PeerResult[] = [];
  const peerErrors: KernelsReport['peerErrors'] = [];
  for (const p of peerNames) {
    const name = p === 'tfjs' ? 'tfjs-webgpu' : 'onnxruntime-cpu';
    let i = 0;
    try {
      for (const c of peerCases) {
        const { M, K, N } = c.peer!;
        i++;
        log(`peer ${name}: ${c.label}`);
        const t = await host.peers[p]!(M, K, N, runs);
        const timing = t.kernelMs !== undefined ? 'gpu-timestamps' : 'wall';
        const r = rates(t, 2 * M * K * N, c.bytes !== undefined ? 4 * K * N : undefined);
        peers.push({ name, kernel: c.name, label: c.label, shape: { M, K, N }, ms: t.ms, runs: t.runs, wallMs: t.wallMs, timing, gflops: r.gflops!, gbps: r.gbps });
      }
    } catch (e) {
      if (e instanceof BenchStopped) throw e;
      done += peerCases.length - i;
      peerErrors.push({ name, error: e instanceof Error ? e.message : String(e) });
    }
  }

  log('ceiling: BLAS-class GEMM');
  const size = o.quick ? 256 : 2048;
  let blas = { gflops: NaN, shape: { M: size, K: size, N: size } };
  if (host.blasGemm) {
    try {
      const t = await host.blasGemm(size, size, size, runs);
      blas = { gflops: (2 * size ** 3) / t.ms / 1e6, shape: blas.shape };
    } catch (e) {
      peerErrors.push({ name: 'onnxruntime-cpu (ceiling)', error: e instanceof Error ? e.message : String(e) });
    }
  }
  for (const c of gemms) {
    log(`ceiling: ${c.label} beside the BLAS-class GEMM`);
    try {
      kernels.find((k) => k.label === c.label)!.blasBeside = await besideBlas(gpu, c, host.blasGemm!, size, runs);
    } catch (e) {
      if (e instanceof BenchStopped) throw e;
      peerErrors.push({ name: `onnxruntime-cpu (beside ${c.label})`, error: e instanceof Error ? e.message : String(e) });
    }
  }
  // The ceiling is the best MLAS rate seen anywhere in this run, the peer shapes included.
  for (const p of peers) if (p.name === 'onnxruntime-cpu' && p.kernel === 'matmul' && !(p.gflops <= blas.gflops)) blas = { gflops: p.gflops, shape: p.shape };
  log('ceiling: host memcpy');
  const memcpy = hostMemcpy(host, o.quick ? 4 << 20 : 256 << 20, runs);
  const ceilings: Ceilings = { blas_gflops: blas.gflops, blas_shape: blas.shape, ...read, ...memcpy, ...(host.memcpyMethod !== 'Buffer.copy' && { memcpy_method: host.memcpyMethod }) };
  o.progress?.(total, total);

  const report: KernelsReport = {
    date: new Date().toISOString(),
    command: o.command,
    platform: host.platform,
    timing: timingSource(gpu),
    machine: { ...loadBefore, loadAfter: host.load() },
    adapter: describeAdapter(gpu),
    runs,
    ceilings,
    kernels,
    peers,
    peerErrors,
    targets: [],
  };
  report.targets = kernelTargets(report);
  return report;
}
