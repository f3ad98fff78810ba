// How long labelled GPU work will take, from how long it took before: what Gpu.settle sleeps for
// before it polls. Kept per label and per amount of work (FLOPs), since time does not scale with
// FLOPs: a decode step of 4 sequences reads the same weights as one and took 1.3–1.9× its time on
// lavapipe, not 4× — scaled by FLOPs, the first step of a new batch size slept 2.1 s before a 0.7 s
// step (bench/README.md, "Concurrent requests"). So a guess for an amount of work not seen under the label never exceeds a
// time measured for at most as much work: sleeping too long costs latency, too short only polling.

/** Amounts of work remembered per label. */
const LIMIT = 64;

export class WaitEstimates {
  /** label → FLOPs → ms. */
  private readonly byLabel = new Map<string, Map<number, number>>();
  /** The best rate (FLOPs per ms) measured so far; 0 before any. */
  private bestRate = 0;

  /** The expected ms of `flops` of work under `label`, or undefined when the label is new. */
  expected(label: string, flops: number): number | undefined {
    const seen = this.byLabel.get(label);
    if (!seen) return undefined;
    const exact = seen.get(flops);
    if (exact !== undefined) return exact;
    // The most work not above this one (its time is a lower bound), else the least work above it scaled down.
    let below: [number, number] | undefined;
    let above: [number, number] | undefined;
    for (const [f, ms] of seen) {
      if (f <= flops && (!below || f > below[0])) below = [f, ms];
      if (f > flops && (!above || f < above[0])) above = [f, ms];
    }
    if (below) return below[1];
    const [f, ms] = above!;
    return f > 0 ? (ms * flops) / f : ms;
  }

  learn(label: string, flops: number, ms: number): void {
    const seen = this.byLabel.get(label) ?? new Map<number, number>();
    seen.delete(flops);
    seen.set(flops, ms);
    // A server sees many prompt lengths: keep the most recent amounts.
    if (seen.size > LIMIT) seen.delete(seen.keys().next().value!);
    this.byLabel.set(label, seen);
  }

  /**
   * A guess at the ms `flops` of work under a new label takes: half its time at the best rate
   * measured so far, since work of another kind may run faster per FLOP than any seen yet (the
   * 3B model's prefill ran at 31 GFLOP/s after a vision pass at 29); 0 before any rate was
   * measured. A fixed first rate went stale as the kernels got faster: 20 GFLOP/s, set when
   * lavapipe reached 10, made that first prefill sleep 46.9 s for 33 s of work (2026-12-03).
   */
  byRate(flops: number): number {
    return this.bestRate > 0 ? (0.5 * flops) / this.bestRate : 0;
  }

  /** A measured time of `flops` of work (not a guess after oversleeping); times of 20 ms or less say little of a rate. */
  learnRate(flops: number, ms: number): void {
    if (flops > 0 && ms > 20) this.bestRate = Math.max(this.bestRate, flops / ms);
  }
}
