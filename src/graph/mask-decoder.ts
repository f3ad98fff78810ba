// PaliGemma's mask decoder: big_vision's VQ-VAE decoder (vae-oid.npz, PyTorch module names) turning
// the 16 <seg> codewords of an object into a 64×64 mask (spec §6.3):
//   codewords → codebook rows → [D, 4, 4] → decoder.0 Conv1×1 + ReLU
//   → decoder.2, decoder.3 ResBlocks: x + Conv1×1(ReLU(Conv3×3(ReLU(Conv3×3(x)))))
//   → decoder.4/6/8/10 ConvTranspose k4 s2 p1 + ReLU (4 → 8 → 16 → 32 → 64) → decoder.12 Conv1×1 → [64, 64]
// Every layer runs once for all objects of a response (NCHW batches). Channel counts and the
// codebook size come from the file; kernel sizes are checked against the architecture.

import type { Gpu, Step } from '../device.js';
import { codebookLookup } from '../kernels/codebook-lookup.js';
import { conv2d, type Epilogue } from '../kernels/conv2d.js';
import { convTranspose2d } from '../kernels/conv-transpose2d.js';
import { NpzArchive } from '../loader/npz.js';

interface Conv {
  w: GPUBuffer;
  b: GPUBuffer;
  cin: number;
  cout: number;
  k: number;
}

/** One tensor by its PyTorch name, with the expected shape (null: any size on that axis). */
export type TensorSource = (key: string, shape: readonly (number | null)[]) => Promise<{ shape: number[]; data: Float32Array }>;

/** The decoder file's usual name (big_vision's gs://big_vision/paligemma/vae-oid.npz). */
export const MASK_DECODER_FILE = 'vae-oid.npz';

const CODEBOOK = '_vq_vae._embedding';
const RES_BLOCKS = ['decoder.2', 'decoder.3'];
const UPSAMPLE = ['decoder.4', 'decoder.6', 'decoder.8', 'decoder.10'];
/** Objects decoded per batch: bounds the activation buffers (64 objects ≈ 16 MiB each). */
const MAX_BATCH = 64;

export class MaskDecoder {
  /** Codewords per object (a side×side grid, row-major). */
  readonly codewords: number;
  /** Side of the output mask (64 for vae-oid). */
  readonly maskSize: number;
  private scratch: { n: number; codes: GPUBuffer; acts: GPUBuffer[] } | undefined;

  private constructor(
    private readonly gpu: Gpu,
    private readonly codebook: { table: GPUBuffer; entries: number; dim: number },
    private readonly stem: Conv,
    private readonly blocks: Conv[][],
    private readonly upsample: Conv[],
    private readonly head: Conv,
    private readonly side: number,
  ) {
    this.codewords = side * side;
    this.maskSize = side * 2 ** upsample.length;
  }

  /** Codebook size (128 for vae-oid: one entry per <seg> token). */
  get entries(): number {
    return this.codebook.entries;
  }

  /** Reads the decoder's tensors from an .npz (the whole file's bytes); encoder tensors are ignored. */
  static fromNpz(gpu: Gpu, file: string, bytes: Uint8Array): Promise<MaskDecoder> {
    const npz = NpzArchive.open(file, bytes);
    return MaskDecoder.load(gpu, (key, shape) => npz.float32(key, shape));
  }

  /** Builds the decoder from any source of its tensors (PyTorch names; the source checks shapes). */
  static async load(gpu: Gpu, read: TensorSource): Promise<MaskDecoder> {
    const uploaded: GPUBuffer[] = [];
    const upload = (data: Float32Array, label: string) => {
      const b = gpu.upload(data, label);
      uploaded.push(b);
      return b;
    };
    const conv = async (name: string, cin: number, cout: number | null, k: number, transposed = false): Promise<Conv> => {
      const w = await read(`${name}.weight`, transposed ? [cin, cout, k, k] : [cout, cin, k, k]);
      const out = w.shape[transposed ? 1 : 0]!;
      const b = await read(`${name}.bias`, [out]);
      return { w: upload(w.data, `${name}.weight`), b: upload(b.data, `${name}.bias`), cin, cout: out, k };
    };
    try {
      const emb = await read(CODEBOOK, [null, null]);
      const [entries, dim] = emb.shape as [number, number];
      const codebook = { table: upload(emb.data, CODEBOOK), entries, dim };
      const stem = await conv('decoder.0', dim, null, 1);
      const blocks: Conv[][] = [];
      for (const name of RES_BLOCKS) {
        const a = await conv(`${name}.net.0`, stem.cout, null, 3);
        const b = await conv(`${name}.net.2`, a.cout, null, 3);
        blocks.push([a, b, await conv(`${name}.net.4`, b.cout, stem.cout, 1)]);
      }
      const upsample: Conv[] = [];
      let channels = stem.cout;
      for (const name of UPSAMPLE) {
        upsample.push(await conv(name, channels, null, 4, true));
        channels = upsample.at(-1)!.cout;
      }
      const head = await conv('decoder.12', channels, 1, 1);
      // The real file's 16 codewords form a 4×4 grid; nothing in the file says so, the token grammar does.
      return new MaskDecoder(gpu, codebook, stem, blocks, upsample, head, 4);
    } catch (e) {
      for (const b of uploaded) b.destroy();
      throw e;
    }
  }

  /**
   * Raw decoder output for each object's codewords: [n, maskSize, maskSize] f32, about [-1, 1].
   */
  async decode(codewords: readonly (readonly number[])[]): Promise<Float32Array> {
    for (const [i, c] of codewords.entries()) {
      if (c.length !== this.codewords || c.some((v) => !Number.isInteger(v) || v < 0 || v >= this.entries)) {
        throw new RangeError(`mask decoder: object ${i} needs ${this.codewords} codewords in 0..${this.entries - 1}, got [${c.join(', ')}]`);
      }
    }
    const plane = this.maskSize * this.maskSize;
    const out = new Float32Array(codewords.length * plane);
    for (let start = 0; start < codewords.length; start += MAX_BATCH) {
      const batch = codewords.slice(start, start + MAX_BATCH);
      out.set(await this.decodeBatch(batch), start * plane);
    }
    return out;
  }

  /** Multiply-adds per object (for throughput figures). */
  get flopsPerObject(): number {
    let flops = 0;
    let side = this.side;
    const convFlops = (c: Conv) => 2 * c.cin * c.cout * c.k * c.k * side * side;
    flops += convFlops(this.stem);
    for (const block of this.blocks) for (const c of block) flops += convFlops(c);
    for (const c of this.upsample) {
      side *= 2;
      // Each output gets 2×2 of the 4×4 taps.
      flops += 2 * c.cin * c.cout * side * side * 4;
    }
    return flops + convFlops(this.head);
  }

  private async decodeBatch(codewords: readonly (readonly number[])[]): Promise<Float32Array> {
    const n = codewords.length;
    const codes = this.scratchFor(n).codes;
    this.gpu.write(codes, Uint32Array.from(codewords.flat()));
    const step = this.gpu.step('mask decoder');
    const masks = this.record(step, codes, n);
    step.end();
    return this.gpu.readF32(masks, 0, n * this.maskSize * this.maskSize, `mask decoder ×${n}`, n * this.flopsPerObject);
  }

  /**
   * Records the decoder for n objects whose codewords (u32 [n, codewords]) are in `codes`; returns
   * the buffer whose first n·maskSize² floats are the masks. Runs in the decoder's own activation
   * buffers (kept for the largest n so far), so record the next batch only after reading this one.
   */
  record(step: Step, codes: GPUBuffer, n: number): GPUBuffer {
    const [a, b, c] = this.scratchFor(n).acts;
    return this.graph(step, codes, [a!, b!, c!], n);
  }

  private scratchFor(n: number): { codes: GPUBuffer; acts: GPUBuffer[] } {
    if (this.scratch && this.scratch.n >= n) return this.scratch;
    this.releaseScratch();
    let largest = this.codebook.dim * this.codewords;
    let side = this.side;
    for (const c of [this.stem, ...this.blocks.flat()]) largest = Math.max(largest, c.cout * side * side);
    for (const c of this.upsample) {
      side *= 2;
      largest = Math.max(largest, c.cout * side * side);
    }
    const gpu = this.gpu;
    const acts = [0, 1, 2].map((i) => gpu.buffer(n * largest * 4, `mask decoder ${i}`));
    this.scratch = { n, codes: gpu.buffer(n * this.codewords * 4, 'mask codewords'), acts };
    return this.scratch;
  }

  private releaseScratch(): void {
    if (!this.scratch) return;
    for (const b of [this.scratch.codes, ...this.scratch.acts]) {
      this.gpu.forgetBuffer(b);
      b.destroy();
    }
    this.scratch = undefined;
  }

  /** The graph over three rotating buffers; returns the one holding the masks. */
  private graph(step: Step, codes: GPUBuffer, [a, b, c]: [GPUBuffer, GPUBuffer, GPUBuffer], n: number): GPUBuffer {
    const side = this.side;
    codebookLookup(step, { codes, table: this.codebook.table, out: a, n, positions: this.codewords, dim: this.codebook.dim, entries: this.entries });
    const conv = (l: Conv, x: GPUBuffer, out: GPUBuffer, s: number, epilogue: Epilogue, residual?: GPUBuffer) =>
      conv2d(step, { x, w: l.w, bias: l.b, out, n, cin: l.cin, cout: l.cout, h: s, width: s, k: l.k, pad: (l.k - 1) / 2, epilogue, residual });
    conv(this.stem, a, b, side, 'relu');
    // A block's last conv adds its input x, which it may not overwrite: its output goes to t1.
    let x = b, t1 = c, t2 = a;
    for (const [l0, l1, l2] of this.blocks) {
      conv(l0!, x, t1, side, 'relu');
      conv(l1!, t1, t2, side, 'relu');
      conv(l2!, t2, t1, side, 'residual', x);
      [x, t1, t2] = [t1, t2, x];
    }
    let s = side;
    for (const l of this.upsample) {
      convTranspose2d(step, { x, w: l.w, bias: l.b, out: t1, n, cin: l.cin, cout: l.cout, h: s, width: s, relu: true });
      s *= 2;
      [x, t1] = [t1, x];
    }
    conv(this.head, x, t1, s, 'none');
    return t1;
  }

  destroy(): void {
    this.releaseScratch();
    const all = [this.codebook.table, ...[this.stem, ...this.blocks.flat(), ...this.upsample, this.head].flatMap((c) => [c.w, c.b])];
    for (const b of all) {
      this.gpu.forgetBuffer(b);
      b.destroy();
    }
  }
}
