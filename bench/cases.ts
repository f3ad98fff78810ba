// The kernel cases: each of our kernels on the shapes PaliGemma-3B-224 runs them on (or on tiny
// shapes with --quick), with the work each one does so that times become GFLOP/s or GB/s.

import type { Gpu, Step } from '../src/device.js';
import { MaskDecoder } from '../src/graph/mask-decoder.js';
import { attention } from '../src/kernels/attention.js';
import { conv2d } from '../src/kernels/conv2d.js';
import { convTranspose2d } from '../src/kernels/conv-transpose2d.js';
import { linear, linearGeglu, linearVariant, prepareWeights } from '../src/kernels/matmul.js';
import { geglu as gegluElementwise } from '../src/kernels/gelu.js';
import { layerNorm, rmsNorm } from '../src/kernels/norm.js';
import { rope } from '../src/kernels/rope.js';
import { sample } from '../src/kernels/sample.js';
import { rowBytes, type Quantization, type WeightFormat } from '../src/weights.js';
import { activation, destroyWeight, randomF32, weight } from './data.js';

export interface Instance {
  record(step: Step): void;
  destroy(): void;
  /** The matmul variant the case runs (what linear() picks for the weights as the model holds them). */
  variant?: string;
}

export interface Case {
  /** Kernel name in the JSON (`matmul` = GEMM, `gemv` = decode GEMV). */
  name: string;
  /** Where PaliGemma runs it. */
  label: string;
  shape: Record<string, number>;
  flops?: number;
  /** Bytes a memory-bound kernel must move (weights for GEMV; in + out for elementwise kernels). */
  bytes?: number;
  /** The least traffic the kernel can have (each input read once, output written once): the roofline's x = flops / traffic. */
  traffic: number;
  /** The plain matmul [M,K]·[K,N] the peers run for comparison. */
  peer?: { M: number; K: number; N: number };
  /** Matmul cases: the weights' format (bf16 unless --quantize adds int8 / int4 twins). */
  format?: WeightFormat;
  setup(gpu: Gpu): Instance | Promise<Instance>;
}

function buffers(gpu: Gpu, sizes: Record<string, number>): Record<string, GPUBuffer> {
  return Object.fromEntries(Object.entries(sizes).map(([k, n], i) => [k, activation(gpu, n, k, i + 2)]));
}

function release(gpu: Gpu, bufs: Record<string, GPUBuffer>): void {
  for (const b of Object.values(bufs)) {
    gpu.forgetBuffer(b);
    b.destroy();
  }
}

/**
 * out[M,N] = x[M,K]·wᵀ; M = 1 is the decode GEMV (reported as GB/s of weights too). The weight is
 * laid out as the model lays out its Linear weights and LM head (prepareWeights: textures on CPU
 * adapters, buffer shards within the binding limit elsewhere).
 */
export function matmul(label: string, M: number, K: number, N: number, format: WeightFormat = 'bf16'): Case {
  const gemv = M === 1;
  const wBytes = N * rowBytes(format, K);
  return {
    name: gemv ? 'gemv' : 'matmul',
    label: format === 'bf16' ? label : `${label} (${format})`,
    shape: { M, K, N },
    format,
    flops: 2 * M * K * N,
    bytes: gemv ? wBytes : undefined,
    traffic: 4 * M * K + wBytes + 4 * M * N,
    // The f32 LM head (2.1 GB) is past ONNX's 2 GiB protobuf limit and tfjs's binding limit: no peer.
    // Quantized twins stand beside their bf16 case (and its peers).
    peer: 4 * K * N < 2 ** 30 && format === 'bf16' ? { M, K, N } : undefined,
    async setup(gpu) {
      const w = weight(gpu, label, [N, K], format);
      await prepareWeights(gpu, [w]);
      const b = buffers(gpu, { x: M * K, out: M * N });
      return {
        variant: linearVariant(gpu, w, M, K),
        record: (step) => linear(step, { x: b.x!, w, out: b.out!, M, K, N }),
        destroy: () => (destroyWeight(gpu, w), release(gpu, b)),
      };
    },
  };
}

/** gelu(x·gateᵀ) ⊙ (x·upᵀ) in one kernel: two weights of [N, K]. */
export function geglu(label: string, M: number, K: number, N: number, format: WeightFormat = 'bf16'): Case {
  const wBytes = 2 * N * rowBytes(format, K);
  return {
    name: M === 1 ? 'gemv-geglu' : 'matmul-geglu',
    label: format === 'bf16' ? label : `${label} (${format})`,
    shape: { M, K, N },
    format,
    flops: 4 * M * K * N,
    bytes: M === 1 ? wBytes : undefined,
    traffic: 4 * M * K + wBytes + 4 * M * N,
    async setup(gpu) {
      const gate = weight(gpu, `${label}.gate`, [N, K], format);
      const up = weight(gpu, `${label}.up`, [N, K], format);
      await prepareWeights(gpu, [gate, up]);
      const b = buffers(gpu, { x: M * K, out: M * N });
      return {
        variant: linearVariant(gpu, gate, M, K),
        record: (step) => linearGeglu(step, { x: b.x!, gate, up, out: b.out!, M, K, N }),
        destroy: () => (destroyWeight(gpu, gate), destroyWeight(gpu, up), release(gpu, b)),
      };
    },
  };
}

/** Prefill attention, every query seeing the whole prefix (PaliGemma's prefix mask with the prompt all prefix; SigLIP: no mask). */
function attn(label: string, seq: number, heads: number, kvHeads: number, headDim: number): Case {
  return {
    name: 'attention',
    label,
    shape: { seqQ: seq, seqK: seq, heads, kvHeads, headDim },
    flops: 4 * seq * seq * heads * headDim,
    traffic: 4 * seq * headDim * (2 * heads + 2 * kvHeads),
    setup(gpu) {
      const b = buffers(gpu, { q: seq * heads * headDim, k: seq * kvHeads * headDim, v: seq * kvHeads * headDim, out: seq * heads * headDim });
      const scale = 1 / Math.sqrt(headDim);
      return {
        record: (step) => attention(step, { q: b.q!, k: b.k!, v: b.v!, out: b.out!, seqQ: seq, seqK: seq, heads, kvHeads, headDim, scale, prefixLen: seq, qStart: 0 }),
        destroy: () => release(gpu, b),
      };
    },
  };
}

function norm(kind: 'rms-norm' | 'layer-norm', label: string, rows: number, dim: number): Case {
  return {
    name: kind,
    label,
    shape: { rows, dim },
    bytes: 8 * rows * dim,
    traffic: 8 * rows * dim,
    setup(gpu) {
      const w = weight(gpu, `${label}.w`, [dim]);
      const bias = weight(gpu, `${label}.b`, [dim]);
      const b = buffers(gpu, { x: rows * dim, out: rows * dim });
      const eps = 1e-6;
      return {
        record: (step) =>
          kind === 'rms-norm'
            ? rmsNorm(step, { x: b.x!, w, out: b.out!, rows, dim, eps })
            : layerNorm(step, { x: b.x!, w, b: bias, out: b.out!, rows, dim, eps }),
        destroy: () => (destroyWeight(gpu, w), destroyWeight(gpu, bias), release(gpu, b)),
      };
    },
  };
}

/** RoPE in place over rows × heads × headDim (positions 0…rows−1): reads and writes every element. */
function ropeCase(label: string, rows: number, heads: number, headDim: number): Case {
  const n = rows * heads * headDim;
  return {
    name: 'rope',
    label,
    shape: { rows, heads, headDim },
    bytes: 8 * n,
    traffic: 8 * n,
    setup(gpu) {
      const b = buffers(gpu, { x: n });
      const positions = gpu.upload(Uint32Array.from({ length: rows }, (_, i) => i), 'positions');
      return {
        record: (step) => rope(step, { x: b.x!, positions, rows, heads, headDim, theta: 10000 }),
        destroy: () => release(gpu, { ...b, positions }),
      };
    },
  };
}

/** The elementwise gelu(gate)·up (used where the GEMM does not fuse it). */
function gegluCase(label: string, n: number): Case {
  return {
    name: 'geglu',
    label,
    shape: { n },
    bytes: 12 * n,
    traffic: 12 * n,
    setup(gpu) {
      const b = buffers(gpu, { gate: n, up: n, out: n });
      return {
        record: (step) => gegluElementwise(step, { gate: b.gate!, up: b.up!, out: b.out!, n }),
        destroy: () => release(gpu, b),
      };
    },
  };
}

/**
 * One sampled token from a logits row as flat as a first caption token's (uniform in [−1, 1)):
 * top-p keeps most of the vocabulary, the worst case for the threshold search.
 */
function sampleCase(label: string, cols: number, topK: number, topP: number): Case {
  return {
    name: 'sample',
    label,
    shape: { cols, topK, topP },
    bytes: 4 * cols,
    traffic: 4 * cols,
    setup(gpu) {
      const b = buffers(gpu, { logits: cols, out: 1 });
      return {
        record: (step) => sample(step, { logits: b.logits!, cols, temperature: 1, topK, topP, uniform: 0.5, out: b.out! }),
        destroy: () => release(gpu, b),
      };
    },
  };
}

/** The mask decoder's convolutions on n objects (f32 weights): 3×3 same-padded, or k4 s2 p1 transposed. */
function convCase(kind: 'conv2d' | 'conv-transpose2d', label: string, n: number, cin: number, cout: number, side: number): Case {
  const out = kind === 'conv2d' ? side : 2 * side;
  const taps = kind === 'conv2d' ? 9 : 4;
  return {
    name: kind,
    label,
    shape: { n, cin, cout, side },
    flops: 2 * n * cout * out * out * cin * taps,
    traffic: 4 * (n * cin * side * side + cin * cout * (kind === 'conv2d' ? 9 : 16) + n * cout * out * out),
    setup(gpu) {
      const b = buffers(gpu, { x: n * cin * side * side, w: cin * cout * 16, bias: cout, out: n * cout * out * out });
      const common = { x: b.x!, w: b.w!, bias: b.bias!, out: b.out!, n, cin, cout, h: side, width: side };
      return {
        record: (step) => (kind === 'conv2d' ? conv2d(step, { ...common, k: 3, pad: 1, epilogue: 'relu' }) : convTranspose2d(step, { ...common, relu: true })),
        destroy: () => release(gpu, b),
      };
    },
  };
}

/** vae-oid.npz's decoder shapes (the real file's; the weights here are random). */
const VAE_OID: Record<string, number[]> = {
  '_vq_vae._embedding': [128, 512],
  'decoder.0.weight': [128, 512, 1, 1],
  'decoder.4.weight': [128, 128, 4, 4],
  'decoder.6.weight': [128, 64, 4, 4],
  'decoder.8.weight': [64, 32, 4, 4],
  'decoder.10.weight': [32, 16, 4, 4],
  'decoder.12.weight': [1, 16, 1, 1],
};
for (const block of ['decoder.2', 'decoder.3']) {
  VAE_OID[`${block}.net.0.weight`] = [128, 128, 3, 3];
  VAE_OID[`${block}.net.2.weight`] = [128, 128, 3, 3];
  VAE_OID[`${block}.net.4.weight`] = [128, 128, 1, 1];
}

/** The whole mask decoder for n objects of one response (codewords to 64×64 masks). */
function maskDecoderCase(n: number): Case {
  const c: Case = {
    name: 'mask-decoder',
    label: `mask decoder, ${n} object${n === 1 ? '' : 's'}`,
    shape: { objects: n },
    traffic: 0,
    async setup(gpu) {
      const decoder = await MaskDecoder.load(gpu, async (key, shape) => {
        const dims = key.endsWith('.bias') ? [shape[0]!] : VAE_OID[key]!;
        return { shape: dims, data: randomF32(dims.reduce((a, d) => a * d, 1), key.length, 0.05) };
      });
      c.flops = n * decoder.flopsPerObject;
      c.traffic = 4 * (n * 16 + n * 64 * 64);
      const codes = gpu.upload(Uint32Array.from({ length: n * 16 }, (_, i) => (i * 37) % 128), 'codewords');
      return {
        record: (step) => void decoder.record(step, codes, n),
        destroy: () => (decoder.destroy(), gpu.forgetBuffer(codes), codes.destroy()),
      };
    },
  };
  return c;
}

/**
 * PaliGemma-3B-224: SigLIP So400m/14 (1152 wide, MLP 4304, 16×72 heads, 256 patches) and Gemma-2B
 * (2048 wide, MLP 16384, 8 heads + 1 KV head of 256, vocab 257216). With `quantize`, every case on
 * a quantized weight (all Linear weights but the patch embedding) is followed by its twin in each format.
 */
export function kernelCases(quick: boolean, quantize: Quantization[] = []): Case[] {
  return withQuantized(shapeCases(quick), quantize);
}

function withQuantized(cases: Case[], quantize: Quantization[]): Case[] {
  return cases.flatMap((c) => {
    if (c.format !== 'bf16' || c.label.startsWith('siglip patch')) return [c];
    const { M, K, N } = c.shape as { M: number; K: number; N: number };
    return [c, ...quantize.map((f) => (c.name.endsWith('geglu') ? geglu(c.label, M, K, N, f) : matmul(c.label, M, K, N, f)))];
  });
}

function shapeCases(quick: boolean): Case[] {
  if (quick) {
    return [
      matmul('tiny GEMM', 24, 128, 96),
      matmul('tiny GEMV', 1, 256, 384),
      geglu('tiny GEGLU GEMM', 16, 128, 64),
      attn('tiny prefix attention', 40, 4, 1, 64),
      norm('rms-norm', 'tiny RMSNorm', 8, 256),
      norm('layer-norm', 'tiny LayerNorm', 8, 192),
      ropeCase('tiny RoPE', 8, 2, 64),
      gegluCase('tiny GeGLU', 1000),
      sampleCase('tiny sampler, top-p 0.9', 5000, 0, 0.9),
      convCase('conv2d', 'tiny conv3×3', 2, 16, 16, 4),
      convCase('conv-transpose2d', 'tiny transposed conv', 2, 16, 8, 8),
      maskDecoderCase(1),
    ];
  }
  const V = 256; // image tokens
  const T = 260; // 256 image tokens + <bos> + "caption en" + "\n"
  return [
    matmul('siglip patch embedding (conv14 as GEMM)', V, 588, 1152),
    matmul('siglip q/k/v/o', V, 1152, 1152),
    matmul('siglip mlp.fc1', V, 1152, 4304),
    matmul('siglip mlp.fc2', V, 4304, 1152),
    matmul('projector', V, 1152, 2048),
    matmul('gemma q/o prefill', T, 2048, 2048),
    matmul('gemma k/v prefill', T, 2048, 256),
    matmul('gemma gate or up prefill', T, 2048, 16384),
    geglu('gemma gate+up+GEGLU prefill', T, 2048, 16384),
    matmul('gemma down prefill', T, 16384, 2048),
    matmul('square 2048³ (reference shape)', 2048, 2048, 2048),
    matmul('gemma q/o decode', 1, 2048, 2048),
    matmul('gemma k/v decode', 1, 2048, 256),
    matmul('gemma gate or up decode', 1, 2048, 16384),
    geglu('gemma gate+up+GEGLU decode', 1, 2048, 16384),
    matmul('gemma down decode', 1, 16384, 2048),
    matmul('gemma LM head decode', 1, 2048, 257216),
    attn('gemma prefill attention 8×256, MQA', T, 8, 1, 256),
    attn('siglip attention 16×72, 224 px', 256, 16, 16, 72),
    attn('siglip attention 16×72, 448 px', 1024, 16, 16, 72),
    attn('siglip attention 16×72, 896 px', 4096, 16, 16, 72),
    norm('rms-norm', 'gemma RMSNorm prefill', T, 2048),
    norm('rms-norm', 'gemma RMSNorm decode', 1, 2048),
    norm('layer-norm', 'siglip LayerNorm', V, 1152),
    ropeCase('gemma RoPE q prefill', T, 8, 256),
    ropeCase('gemma RoPE k prefill', T, 1, 256),
    gegluCase('gemma GeGLU prefill (elementwise)', T * 16384),
    sampleCase('sampler over the vocab, top-p 0.9', 257216, 0, 0.9),
    sampleCase('sampler over the vocab, top-k 50, top-p 0.9', 257216, 50, 0.9),
    convCase('conv2d', 'mask decoder ResBlock conv3×3 128→128, 4×4, 8 objects', 8, 128, 128, 4),
    convCase('conv-transpose2d', 'mask decoder decoder.6 128→64, 8→16, 8 objects', 8, 128, 64, 8),
    convCase('conv-transpose2d', 'mask decoder decoder.10 32→16, 32→64, 8 objects', 8, 32, 16, 32),
    maskDecoderCase(1),
    maskDecoderCase(8),
  ];
}
