import { f32BitsToBf16 } from './bf16.js';
import { TEXT, VISION, EMBED } from './names.js';

/**
 * Seeded random weights for synthetic checkpoints. Values are scaled so a full forward pass
 * (27 SigLIP + 18 Gemma layers) stays finite and non-degenerate:
 *  - Linear / conv weights: N(0,1) · 0.5 / sqrt(fan_in)
 *  - Gemma RMSNorm weights (used as 1 + w): N(0, 0.05)
 *  - SigLIP LayerNorm weights: 1 + N(0, 0.05); all biases N(0, 0.02)
 *  - embed_tokens rows: N(0, 1/sqrt(hidden)) (times sqrt(hidden) at lookup ≈ unit variance)
 *  - position embeddings N(0, 0.1)
 * Every value is rounded to bf16 and values below 2^-14 are flushed to 0, so the same value
 * is exactly representable in bf16, f16 and f32: files written with --dtype bf16/f16/f32 and
 * the same seed hold identical numbers.
 */
export interface Init {
  mean: number;
  std: number;
}

export function initFor(name: string, shape: number[]): Init {
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  if (name === EMBED) return { mean: 0, std: 1 / Math.sqrt(shape[1]!) };
  if (name.endsWith('position_embedding.weight')) return { mean: 0, std: 0.1 };
  if (name.endsWith('.bias')) return { mean: 0, std: 0.02 };
  if (shape.length === 1 && name.startsWith(TEXT)) return { mean: 0, std: 0.05 };
  if (shape.length === 1 && name.startsWith(VISION)) return { mean: 1, std: 0.05 };
  return { mean: 0, std: 0.5 / Math.sqrt(fanIn) };
}

/** FNV-1a, so each tensor gets its own stream whatever the file order, naming or sharding. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Approximately normal samples: Irwin–Hall with four uniforms (sum − 2)·sqrt(3), from two
 * 32-bit outputs of mulberry32 split into 16-bit halves. It is fast (no log/cos) and its
 * tails are bounded at ±3.46σ, which keeps random activations tame.
 */
export class WeightStream {
  private state: number;

  constructor(seed: number, name: string, private readonly init: Init) {
    this.state = (Math.imul(seed >>> 0, 0x9e3779b1) ^ hashName(name)) >>> 0;
  }

  private next32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Fill `out` with the next bf16 words of this tensor. */
  fillBf16(out: Uint16Array): void {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    const { mean, std } = this.init;
    const scale = (std * Math.sqrt(3)) / 65536;
    for (let i = 0; i < out.length; i++) {
      const a = this.next32();
      const b = this.next32();
      const sum = (a >>> 16) + (a & 0xffff) + (b >>> 16) + (b & 0xffff) - 2 * 65536;
      f[0] = mean + sum * scale;
      let w = f32BitsToBf16(u[0]!);
      // Flush tiny values so f16 can hold every value exactly (f16 normals start at 2^-14).
      if (((w >>> 7) & 0xff) < 113) w = 0;
      out[i] = w;
    }
  }
}

/** f16 bits of a bf16 value in f16's normal range (exact; see the flush above). */
export function bf16ToF16Exact(w: number): number {
  if ((w & 0x7fff) === 0) return (w & 0x8000);
  const exp = ((w >>> 7) & 0xff) - 127 + 15;
  if (exp < 1 || exp > 30) throw new Error(`bf16 value 0x${w.toString(16)} is outside f16's normal range`);
  return (w & 0x8000) | (exp << 10) | ((w & 0x7f) << 3);
}
