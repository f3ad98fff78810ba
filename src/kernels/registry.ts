// Every kernel's WGSL by variant, for inspection (`paligemma kernels list|show`) and for the test
// that compiles each variant. A kernel is its file's WGSL builder and the axes its pipeline name is
// keyed by; each axis lists its values, the first being the default (the variant lavapipe or a
// PaliGemma shape takes). Shapes that are uniform params do not appear: one pipeline serves them.

import { addWgsl } from './add.js';
import { selectWgsl } from './argmax.js';
import { decodeReduceWgsl } from './attention-decode.js';
import { attentionWeightsWgsl } from './attention-weights.js';
import { attentionConfig, attentionVariant, attentionWgsl } from './attention.js';
import { codebookLookupWgsl } from './codebook-lookup.js';
import { convTranspose2dWgsl } from './conv-transpose2d.js';
import { conv2dWgsl, type Epilogue as ConvEpilogue } from './conv2d.js';
import { embedTextureWgsl } from './embed-texture.js';
import { embedWgsl } from './embed.js';
import { geluWgsl } from './gelu.js';
import type { Epilogue } from './matmul-common.js';
import { gemvManyWgsl, gemvWgsl, type Opts as GemvOpts } from './matmul-gemv.js';
import { loraMergeWgsl } from './lora-merge.js';
import { lanesWgsl } from './matmul-lanes.js';
import { textureManyWgsl, textureWgsl, type TextureTiling, type XRead } from './matmul-texture.js';
import { tiledWgsl } from './matmul-tiled.js';
import { normWgsl, type NormMode } from './norm.js';
import { im2colWgsl } from './patch-embed.js';
import { radixHistogramWgsl } from './radix-histogram.js';
import { radixPickWgsl } from './radix-pick.js';
import { ropeAppendWgsl, ropeWgsl } from './rope.js';
import { sampleChunksWgsl } from './sample-chunks.js';
import { sampleDrawWgsl } from './sample-draw.js';
import { sampleProbsWgsl } from './sample-probs.js';
import { sampleScoresWgsl } from './sample-scores.js';
import { seenMarkWgsl } from './seen-mark.js';
import { softmaxWgsl } from './softmax.js';
import { weightTexturePackWgsl } from './weight-texture.js';
import type { WeightFormat } from '../weights.js';

/** A variant: a value for every axis of its kernel. */
export type Variant = Record<string, string>;

export interface KernelEntry {
  name: string;
  file: string;
  axes: Record<string, readonly string[]>;
  code(v: Variant): string;
  /** The WGSL needs the `subgroups` device feature in this variant. */
  subgroups?(v: Variant): boolean;
}

const B = ['false', 'true'] as const;
const T = ['true', 'false'] as const;
const FORMATS = ['bf16', 'int8', 'int4'] as const;
/** f32: merged LoRA weights (docs/lora.md), which only the matmuls and the texture packing read. */
const MATMUL_FORMATS = [...FORMATS, 'f32'] as const;
const on = (s: string | undefined) => s === 'true';
const num = (s: string | undefined) => Number(s);

/** The matmul epilogue's axes: what epilogueKey names. LoRA terms, bias and accumulate are params, so any stand in. */
const EPILOGUE = { geglu: B, gatedByOut: B, softcap: ['0', '30'], lora: B, loraUp: B } as const;
function epilogue(v: Variant): Epilogue {
  const term = { rank: 0, offset: 0, stride: 0 };
  return { bias: false, accumulate: false, geglu: on(v.geglu), gatedByOut: on(v.gatedByOut), softcap: num(v.softcap) || undefined, lora: on(v.lora) ? term : undefined, loraUp: on(v.loraUp) ? term : undefined };
}

const GEMV = { format: MATMUL_FORMATS, rows: ['1', '2', '4', '8'], vec: T, shuffle: B, lanes: ['32', '256'], norm: B } as const;
const gemvOpts = (v: Variant): GemvOpts => ({ format: v.format as WeightFormat, rows: num(v.rows), vec: on(v.vec), shuffle: on(v.shuffle), lanes: num(v.lanes), norm: on(v.norm) });

const TILING = { format: MATMUL_FORMATS, rows: ['8', '1', '2', '4'], cols: ['16', '8', '4'], lanes: ['16'], broadcast: T, x: ['storage', 'uniform', 'rows'], tail: ['0', '4'] } as const;
const tiling = (v: Variant): TextureTiling => ({ rows: num(v.rows), cols: num(v.cols), lanes: num(v.lanes), broadcast: on(v.broadcast) });

export const KERNELS: readonly KernelEntry[] = [
  { name: 'add', file: 'add.ts', axes: {}, code: () => addWgsl },
  { name: 'gelu', file: 'gelu.ts', axes: { gated: B }, code: (v) => geluWgsl(on(v.gated)) },
  {
    name: 'norm',
    file: 'norm.ts',
    axes: { mode: ['rms', 'rmsAcc', 'layer', 'addRms'], per: ['8', '1', '2', '4', '16'], subgroups: T },
    code: (v) => normWgsl(v.mode as NormMode, num(v.per), on(v.subgroups)),
    subgroups: (v) => on(v.subgroups),
  },
  { name: 'softmax', file: 'softmax.ts', axes: { subgroups: T }, code: (v) => softmaxWgsl(on(v.subgroups)), subgroups: (v) => on(v.subgroups) },
  {
    name: 'select',
    file: 'argmax.ts',
    axes: { first: T, last: T, vals: B, subgroups: T },
    code: (v) => selectWgsl(on(v.first), on(v.last), on(v.vals), on(v.subgroups)),
    subgroups: (v) => on(v.subgroups),
  },
  { name: 'rope', file: 'rope.ts', axes: { inPlace: T }, code: (v) => ropeWgsl(on(v.inPlace)) },
  { name: 'rope-append', file: 'rope.ts', axes: {}, code: () => ropeAppendWgsl },
  { name: 'embed', file: 'embed.ts', axes: { format: FORMATS }, code: (v) => embedWgsl(v.format as WeightFormat) },
  { name: 'embed-texture', file: 'embed-texture.ts', axes: { format: FORMATS }, code: (v) => embedTextureWgsl(v.format as WeightFormat) },
  { name: 'weight-texture-pack', file: 'weight-texture.ts', axes: { format: MATMUL_FORMATS }, code: (v) => weightTexturePackWgsl(v.format as WeightFormat) },
  {
    name: 'attention',
    file: 'attention.ts',
    axes: { adapter: ['cpu', 'gpu'], headDim: ['256', '72'], decode: B, vec: ['4', '1'], split: B, keyStarts: B, keyCount: B, softcap: B },
    code: (v) => {
      const cpu = v.adapter === 'cpu';
      const headDim = num(v.headDim);
      const base = attentionConfig({ cpuAdapter: cpu }, headDim, on(v.decode) ? 8 : Infinity);
      const flags = { split: on(v.split), perSeqKeyStart: on(v.keyStarts), lengthFromBuffer: on(v.keyCount), softcap: on(v.softcap) };
      return attentionWgsl(attentionVariant(base, { headDim, vec: num(v.vec), opaqueLoops: cpu && !flags.split, ...flags }));
    },
  },
  { name: 'attention-decode-reduce', file: 'attention-decode.ts', axes: {}, code: () => decodeReduceWgsl },
  { name: 'attention-weights', file: 'attention-weights.ts', axes: {}, code: () => attentionWeightsWgsl },
  { name: 'matmul-gemv', file: 'matmul-gemv.ts', axes: { ...EPILOGUE, ...GEMV }, code: (v) => gemvWgsl(epilogue(v), gemvOpts(v)), subgroups: (v) => on(v.shuffle) },
  { name: 'matmul-gemv-many', file: 'matmul-gemv.ts', axes: { parts: ['3', '1', '2'], ...GEMV }, code: (v) => gemvManyWgsl(num(v.parts), gemvOpts(v)), subgroups: (v) => on(v.shuffle) },
  { name: 'matmul-lanes', file: 'matmul-lanes.ts', axes: { ...EPILOGUE, rows: ['1', '2', '4', '8'], ux: T }, code: (v) => lanesWgsl(epilogue(v), num(v.rows), on(v.ux)) },
  {
    name: 'matmul-texture',
    file: 'matmul-texture.ts',
    axes: { ...EPILOGUE, ...TILING },
    code: (v) => textureWgsl(epilogue(v), tiling(v), v.format as WeightFormat, v.x as XRead, num(v.tail)),
    subgroups: (v) => on(v.broadcast),
  },
  {
    name: 'matmul-texture-many',
    file: 'matmul-texture.ts',
    axes: { parts: ['3', '1', '2'], ...TILING, rows: ['1', '2', '4'], cols: ['8', '16', '4'], broadcast: B, x: ['uniform', 'storage', 'rows'] },
    code: (v) => textureManyWgsl(num(v.parts), tiling(v), v.format as WeightFormat, v.x as XRead, num(v.tail)),
    subgroups: (v) => on(v.broadcast),
  },
  { name: 'matmul-tiled', file: 'matmul-tiled.ts', axes: { ...EPILOGUE, format: MATMUL_FORMATS }, code: (v) => tiledWgsl(epilogue(v), v.format as WeightFormat) },
  {
    name: 'lora-merge',
    file: 'lora-merge.ts',
    axes: { format: FORMATS, src: ['buffer', 'texture'], out: ['buffer', 'texture'] },
    code: (v) => loraMergeWgsl(v.format as WeightFormat, v.src as 'buffer' | 'texture', v.out as 'buffer' | 'texture'),
  },
  { name: 'conv2d', file: 'conv2d.ts', axes: { k: ['3', '1', '5'], epilogue: ['none', 'relu', 'residual'] }, code: (v) => conv2dWgsl(num(v.k), v.epilogue as ConvEpilogue) },
  { name: 'conv-transpose2d', file: 'conv-transpose2d.ts', axes: { relu: B }, code: (v) => convTranspose2dWgsl(on(v.relu)) },
  { name: 'codebook-lookup', file: 'codebook-lookup.ts', axes: {}, code: () => codebookLookupWgsl },
  { name: 'patch-im2col', file: 'patch-embed.ts', axes: {}, code: () => im2colWgsl },
  {
    name: 'sample-scores',
    file: 'sample-scores.ts',
    axes: { penalized: B, subgroups: T, wide: T },
    code: (v) => sampleScoresWgsl(on(v.penalized), on(v.subgroups), on(v.wide)),
    subgroups: (v) => on(v.subgroups),
  },
  { name: 'radix-histogram', file: 'radix-histogram.ts', axes: { mass: T }, code: (v) => radixHistogramWgsl(on(v.mass)) },
  { name: 'radix-pick', file: 'radix-pick.ts', axes: { filter: ['top-p', 'top-k'] }, code: (v) => radixPickWgsl(v.filter === 'top-p') },
  { name: 'sample-chunks', file: 'sample-chunks.ts', axes: { subgroups: T }, code: (v) => sampleChunksWgsl(on(v.subgroups)), subgroups: (v) => on(v.subgroups) },
  { name: 'sample-draw', file: 'sample-draw.ts', axes: { many: B }, code: (v) => sampleDrawWgsl(on(v.many)) },
  { name: 'sample-probs', file: 'sample-probs.ts', axes: {}, code: () => sampleProbsWgsl },
  { name: 'seen-mark', file: 'seen-mark.ts', axes: {}, code: () => seenMarkWgsl },
];

export function kernelEntry(name: string): KernelEntry {
  const k = KERNELS.find((e) => e.name === name);
  if (!k) throw new Error(`no kernel '${name}' (known: ${KERNELS.map((e) => e.name).join(', ')})`);
  return k;
}

/** The defaults of every axis, overridden by `spec` ("axis=value,axis=value"); unknown axes and values are refused. */
export function parseVariant(k: KernelEntry, spec = ''): Variant {
  const v: Variant = Object.fromEntries(Object.entries(k.axes).map(([a, vals]) => [a, vals[0]!]));
  for (const part of spec.split(',').filter((s) => s.trim())) {
    const [axis, value, extra] = part.split('=').map((s) => s.trim());
    if (!axis || value === undefined || extra !== undefined) throw new Error(`${k.name}: '${part}' is not axis=value`);
    const vals = k.axes[axis];
    if (!vals) throw new Error(`${k.name}: no axis '${axis}' (axes: ${Object.keys(k.axes).join(', ') || 'none'})`);
    // Numeric axes take any whole number; the listed ones are examples.
    const numeric = vals.every((x) => /^\d+$/.test(x)) && /^\d+$/.test(value);
    if (!numeric && !vals.includes(value)) throw new Error(`${k.name}: ${axis} must be one of ${vals.join(', ')}, got '${value}'`);
    v[axis] = value;
  }
  return v;
}

/** The default variant and, for every axis, each other value with the rest at their defaults. */
export function axisVariants(k: KernelEntry): Variant[] {
  const base = parseVariant(k);
  return [base, ...Object.entries(k.axes).flatMap(([a, vals]) => vals.slice(1).map((x) => ({ ...base, [a]: x })))];
}

export function variantKey(v: Variant): string {
  return Object.entries(v).map(([a, x]) => `${a}=${x}`).join(',');
}
