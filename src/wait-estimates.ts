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
}
