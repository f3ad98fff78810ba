// Per-dispatch GPU time from timestamp queries: while profiling, every dispatch gets its own compute
// pass with timestampWrites, and the queries are resolved at each submit and read back on collect().

export interface KernelTiming {
  label: string;
  ms: number;
  /** A copy (timed between an empty pass before it and one after it), not a dispatch. */
  copy?: boolean;
}

const CAPACITY = 512; // dispatches between two resolves (a step submits far more often)

export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private labels: string[] = [];
  /** Which of `labels` are copies. */
  private copies = new Set<number>();
  private pending: { staging: GPUBuffer; labels: string[]; copies: Set<number> }[] = [];

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: CAPACITY * 2 });
    this.resolveBuffer = device.createBuffer({ size: CAPACITY * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  next(label: string): GPUComputePassTimestampWrites {
    const i = this.slot(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /**
   * Times a copy that `encode` records: empty compute passes before and after it take the
   * timestamps (copies have none of their own), so the bench counts what they cost.
   */
  copy(encoder: GPUCommandEncoder, label: string, encode: () => void): void {
    const i = this.slot(label);
    this.copies.add(i);
    encoder.beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i } }).end();
    encode();
    encoder.beginComputePass({ timestampWrites: { querySet: this.querySet, endOfPassWriteIndex: 2 * i + 1 } }).end();
  }

  private slot(label: string): number {
    if (this.labels.length >= CAPACITY) throw new Error('profiler: too many dispatches between submits');
    this.labels.push(label);
    return this.labels.length - 1;
  }

  resolve(encoder: GPUCommandEncoder): void {
    const n = this.labels.length;
    if (n === 0) return;
    const staging = this.device.createBuffer({ size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, n * 16);
    this.pending.push({ staging, labels: this.labels, copies: this.copies });
    this.labels = [];
    this.copies = new Set();
  }

  /** Timings of every dispatch since the last collect, in submission order. Call after the work is done. */
  async collect(): Promise<KernelTiming[]> {
    const out: KernelTiming[] = [];
    for (const { staging, labels, copies } of this.pending) {
      await staging.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(staging.getMappedRange());
      labels.forEach((label, i) => out.push({ label, ms: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6, ...(copies.has(i) && { copy: true }) }));
      staging.unmap();
      staging.destroy();
    }
    this.pending = [];
    return out;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
