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
  /** Activations for `images` images at once (grown by reserve). */
  private images = 0;
  private buffers!: Record<'x' | 'ln' | 'q' | 'k' | 'v' | 'attn' | 'fc1' | 'act', GPUBuffer>;

  constructor(private readonly gpu: Gpu, readonly cfg: VisionConfig, weights: WeightMap) {
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
    this.reserve(1);
  }

  /**
   * The most images one encode() takes: every activation of the batch (and the patch embedding's
   * pixels and im2col rows) must fit one storage binding. 1 for So400m at 896 px.
   */
  get maxImages(): number {
    const { numPatches: n, hiddenSize: d, intermediateSize: inter, patchSize: p } = this.cfg;
    const perImage = n * Math.max(d, inter, 3 * p * p) * 4;
    return Math.max(1, Math.floor(this.gpu.limits.maxStorageBufferBindingSize / perImage));
  }

  /** Activations for `images` images per encode() (kept when they are there already). */
  reserve(images: number): void {
    if (images <= this.images) return;
    if (images > this.maxImages) throw new RangeError(`SigLIP: ${images} images do not fit one batch (at most ${this.maxImages} on this device)`);
    if (this.images) this.destroy();
    const rows = this.cfg.numPatches * images;
    const d = this.cfg.hiddenSize * rows * 4;
    const inter = this.cfg.intermediateSize * rows * 4;
    const g = this.gpu;
    this.buffers = {
      x: g.buffer(d, 'siglip.x'),
      ln: g.buffer(d, 'siglip.ln'),
      q: g.buffer(d, 'siglip.q'),
      k: g.buffer(d, 'siglip.k'),
      v: g.buffer(d, 'siglip.v'),
      attn: g.buffer(d, 'siglip.attn'),
      fc1: g.buffer(inter, 'siglip.fc1'),
      act: g.buffer(inter, 'siglip.act'),
    };
    this.images = images;
  }

  /**
   * The weights only matmuls read (they may move to the matmul kernels' preferred layout): the
   * patch embedding's conv kernel and every Linear weight.
   */
  linearWeights(): GpuWeight[] {
    return [this.patch[0], ...this.layers.flatMap((l) => [l.q[0], l.k[0], l.v[0], l.o[0], l.fc1[0], l.fc2[0]])];
  }

  /**
   * pixels: [images, 3, S, S] f32 in [-1, 1]; out: [images·N, hidden] f32, the post-LayerNorm last
   * hidden states. The images go through as one batch (their patches are the rows of every GEMM);
   * only attention keeps them apart, each image's patches seeing their own. reserve(images) first.
   */
  encode(step: Step, pixels: Binding, out: Binding, images = 1): void {
    if (!(Number.isInteger(images) && images >= 1 && images <= this.images)) throw new RangeError(`SigLIP: ${images} images, activations reserved for ${this.images}`);
    const { numPatches: n, hiddenSize: d, intermediateSize: inter, numHeads: heads, headDim, layerNormEps: eps } = this.cfg;
    const { x, ln, q, k, v, attn, fc1, act } = this.buffers;
    const rows = images * n;
    const [pw, pb] = this.patch;
    patchEmbed(step, { pixels, w: pw, b: pb, pos: this.pos, out: x, size: this.cfg.imageSize, patch: this.cfg.patchSize, dim: d, images });
    for (const l of this.layers) {
      layerNorm(step, { x, w: l.ln1[0], b: l.ln1[1], out: ln, rows, dim: d, eps });
      linear(step, { x: ln, w: l.q[0], bias: l.q[1], out: q, M: rows, K: d, N: d });
      linear(step, { x: ln, w: l.k[0], bias: l.k[1], out: k, M: rows, K: d, N: d });
      linear(step, { x: ln, w: l.v[0], bias: l.v[1], out: v, M: rows, K: d, N: d });
      attention(step, {
        q, k, v, out: attn, batch: images,
        seqQ: n, seqK: n, heads, kvHeads: heads, headDim, scale: 1 / Math.sqrt(headDim), prefixLen: n, qStart: 0,
      });
      linear(step, { x: attn, w: l.o[0], bias: l.o[1], out: x, M: rows, K: d, N: d, accumulate: true });
      layerNorm(step, { x, w: l.ln2[0], b: l.ln2[1], out: ln, rows, dim: d, eps });
      linear(step, { x: ln, w: l.fc1[0], bias: l.fc1[1], out: fc1, M: rows, K: d, N: inter });
      gelu(step, { x: fc1, out: act, n: rows * inter });
      linear(step, { x: act, w: l.fc2[0], bias: l.fc2[1], out: x, M: rows, K: inter, N: d, accumulate: true });
    }
    layerNorm(step, { x, w: this.post[0], b: this.post[1], out, rows, dim: d, eps });
  }

  destroy(): void {
    for (const b of Object.values(this.buffers)) {
      this.gpu.forgetBuffer(b);
      b.destroy();
    }
    this.images = 0;
  }
}
