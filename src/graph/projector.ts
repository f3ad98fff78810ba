// The multi-modal projector: one Linear (vision hidden → text hidden) with bias, no activation.
// Its output enters the text stream as is: only text embeddings are scaled by sqrt(hidden).

import type { Binding, Step } from '../device.js';
import { linear } from '../kernels/matmul.js';
import { PROJECTOR } from '../loader/names.js';
import type { GpuWeight } from '../weights.js';
import { weightGetter, type WeightMap } from './weights.js';

export class Projector {
  private readonly w: GpuWeight;
  private readonly b: GpuWeight;

  constructor(weights: WeightMap) {
    const w = weightGetter(weights, PROJECTOR);
    this.w = w('linear.weight');
    this.b = w('linear.bias');
  }

  linearWeights(): GpuWeight[] {
    return [this.w];
  }

  /** x: [rows, visionHidden] → out: [rows, textHidden]. */
  project(step: Step, x: Binding, out: Binding, rows: number): void {
    const [n, k] = this.w.shape as [number, number];
    linear(step, { x, w: this.w, bias: this.b, out, M: rows, K: k, N: n });
  }
}
