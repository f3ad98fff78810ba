// What the kernel bench needs from the platform it runs on, beyond the GPU: the machine's
// description, the ceilings only a host can measure (a BLAS-class CPU GEMM, host memcpy) and the
// peers it can load. Node (host-node.ts) offers all of them; a browser page (page/host.ts) offers
// what a page can reach. The kernel cases, their timing and the GPU read ceiling are the same code
// on both.

import type { Machine } from './machine.js';
import type { RunOptions, Timing } from './measure.js';
import { median } from './stats.js';

export type PeerName = 'tfjs' | 'ort';

export interface PeerTiming extends Timing {
  /** The peer's kernel time from its own timestamp queries, when it reports one (tfjs). */
  kernelMs?: number;
}

export interface BenchHost {
  /** Where the run happens: 'node' or 'browser' (the report's `platform`). */
  platform: 'node' | 'browser';
  machine(): Machine;
  /** The 1/5/15-minute load averages now (empty where the platform cannot tell). */
  load(): number[];
  /** How memcpy is done, for the report ('Buffer.copy', 'Uint8Array.set'). */
  memcpyMethod: string;
  /** Copies `src` into `dst` (same length). */
  memcpy(src: Uint8Array, dst: Uint8Array): void;
  /** An f32 [M,K]·[K,N] GEMM on a BLAS-class CPU library (the GFLOP/s ceiling), or undefined where there is none. */
  blasGemm?: (M: number, K: number, N: number, o: RunOptions) => Promise<Timing>;
  /** The peers this platform can run, by name. */
  peers: Partial<Record<PeerName, (M: number, K: number, N: number, o: RunOptions) => Promise<PeerTiming>>>;
}

/** Host memcpy: bytes copied per second, median of the measured runs. */
export function hostMemcpy(host: BenchHost, bytes: number, o: RunOptions): { memcpy_gbps: number; memcpy_runs_ms: number[] } {
  const src = new Uint8Array(bytes).fill(7);
  const dst = new Uint8Array(bytes);
  const runs: number[] = [];
  for (let i = 0; i < o.warmup + o.runs; i++) {
    const t0 = performance.now();
    host.memcpy(src, dst);
    const ms = performance.now() - t0;
    if (i >= o.warmup) runs.push(ms);
  }
  return { memcpy_gbps: bytes / median(runs) / 1e6, memcpy_runs_ms: runs };
}
