// SigLIP vision tower (So400m/14 in PaliGemma): patch embedding + learned position embedding,
// pre-LN encoder layers (LayerNorm → MHA with biases → residual; LayerNorm → fc1 → tanh-GELU →
// fc2 → residual), post-LayerNorm. No pooling head.

import type { Binding, Gpu, Step } from '../device.js';
import { attention } from '../kernels/attention.js';
import { gelu } from '../kernels/gelu.js';
import { linear } from '../kernels/matmul.js';
import { layerNorm } from '../kernels/norm.js';
import { patchEmbed } from '../kernels/patch-embed.js';
import type { VisionConfig } from '../loader/config.js';
import { VISION } from '../loader/names.js';
import type { GpuWeight } from '../weights.js';
import { weightGetter, type WeightMap } from './weights.js';

interface SiglipLayer {
  ln1: [GpuWeight, GpuWeight];
  q: [GpuWeight, GpuWeight];
  k: [GpuWeight, GpuWeight];
  v: [GpuWeight, GpuWeight];
  o: [GpuWeight, GpuWeight];
  ln2: [GpuWeight, GpuWeight];
  fc1: [GpuWeight, GpuWeight];
  fc2: [GpuWeight, GpuWeight];
}

export class Siglip {
  private readonly patch: [GpuWeight, GpuWeight];
  private readonly pos: GpuWeight;
  private readonly layers: SiglipLayer[];
  private readonly post: [GpuWeight, GpuWeight];
  // Activations for one image, allocated once.
  private readonly x: GPUBuffer;
  private readonly ln: GPUBuffer;
  private readonly q: GPUBuffer;
  private readonly k: GPUBuffer;
  private readonly v: GPUBuffer;
  private readonly attn: GPUBuffer;
  private readonly fc1: GPUBuffer;
  private readonly act: GPUBuffer;

  constructor(gpu: Gpu, readonly cfg: VisionConfig, weights: WeightMap) {
    const w = weightGetter(weights, VISION);
    const pair = (name: string): [GpuWeight, GpuWeight] => [w(`${name}.weight`), w(`${name}.bias`)];
    this.patch = pair('embeddings.patch_embedding');
    this.pos = w('embeddings.position_embedding.weight');
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => {
      const l = `encoder.layers.${i}.`;
      return {
        ln1: pair(l + 'layer_norm1'),
        q: pair(l + 'self_attn.q_proj'),
        k: pair(l + 'self_attn.k_proj'),
        v: pair(l + 'self_attn.v_proj'),
        o: pair(l + 'self_attn.out_proj'),
        ln2: pair(l + 'layer_norm2'),
        fc1: pair(l + 'mlp.fc1'),
        fc2: pair(l + 'mlp.fc2'),
      };
    });
    this.post = pair('post_layernorm');
    const rows = cfg.numPatches;
    const d = cfg.hiddenSize * rows * 4;
    this.x = gpu.buffer(d, 'siglip.x');
    this.ln = gpu.buffer(d, 'siglip.ln');
    this.q = gpu.buffer(d, 'siglip.q');
    this.k = gpu.buffer(d, 'siglip.k');
    this.v = gpu.buffer(d, 'siglip.v');
    this.attn = gpu.buffer(d, 'siglip.attn');
    this.fc1 = gpu.buffer(cfg.intermediateSize * rows * 4, 'siglip.fc1');
    this.act = gpu.buffer(cfg.intermediateSize * rows * 4, 'siglip.act');
  }

  /**
   * The weights only matmuls read (they may move to the matmul kernels' preferred layout): the
   * patch embedding's conv kernel and every Linear weight.
   */
  linearWeights(): GpuWeight[] {
    return [this.patch[0], ...this.layers.flatMap((l) => [l.q[0], l.k[0], l.v[0], l.o[0], l.fc1[0], l.fc2[0]])];
  }

  /** pixels: [3, S, S] f32 in [-1, 1]; out: [N, hidden] f32, the post-LayerNorm last hidden state. */
  encode(step: Step, pixels: Binding, out: Binding): void {
    const { numPatches: n, hiddenSize: d, intermediateSize: inter, numHeads: heads, headDim, layerNormEps: eps } = this.cfg;
    const [pw, pb] = this.patch;
    patchEmbed(step, { pixels, w: pw, b: pb, pos: this.pos, out: this.x, size: this.cfg.imageSize, patch: this.cfg.patchSize, dim: d });
    for (const l of this.layers) {
      layerNorm(step, { x: this.x, w: l.ln1[0], b: l.ln1[1], out: this.ln, rows: n, dim: d, eps });
      linear(step, { x: this.ln, w: l.q[0], bias: l.q[1], out: this.q, M: n, K: d, N: d });
      linear(step, { x: this.ln, w: l.k[0], bias: l.k[1], out: this.k, M: n, K: d, N: d });
      linear(step, { x: this.ln, w: l.v[0], bias: l.v[1], out: this.v, M: n, K: d, N: d });
      attention(step, {
        q: this.q, k: this.k, v: this.v, out: this.attn,
        seqQ: n, seqK: n, heads, kvHeads: heads, headDim, scale: 1 / Math.sqrt(headDim), prefixLen: n, qStart: 0,
      });
      linear(step, { x: this.attn, w: l.o[0], bias: l.o[1], out: this.x, M: n, K: d, N: d, accumulate: true });
      layerNorm(step, { x: this.x, w: l.ln2[0], b: l.ln2[1], out: this.ln, rows: n, dim: d, eps });
      linear(step, { x: this.ln, w: l.fc1[0], bias: l.fc1[1], out: this.fc1, M: n, K: d, N: inter });
      gelu(step, { x: this.fc1, out: this.act, n: n * inter });
      linear(step, { x: this.act, w: l.fc2[0], bias: l.fc2[1], out: this.x, M: n, K: inter, N: d, accumulate: true });
    }
    layerNorm(step, { x: this.x, w: this.post[0], b: this.post[1], out, rows: n, dim: d, eps });
  }

  destroy(): void {
    for (const b of [this.x, this.ln, this.q, this.k, this.v, this.attn, this.fc1, this.act]) b.destroy();
  }
}
