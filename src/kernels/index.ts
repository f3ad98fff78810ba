/// <reference types="@webgpu/types" preserve="true" />
// The kernels on their own (`paligemma-webgpu/kernels`): the device layer and every launcher, for a
// runtime that brings its own GPUDevice (`new Gpu(device)`) and its own weights (uploadWeight).
// Contract and conventions: docs/kernel-api.md.
export { Gpu, GpuError, Step, Recording, releaseDestroyed, type Binding, type BufferBinding, type Command, type Kernel, type KernelDef, type Storage, type GpuFeatures } from '../device.js';
export { Profiler, type KernelTiming } from '../profiler.js';
export { params, paramsWgsl, UniformArena } from '../uniforms.js';
export { matrixShape, type GpuWeight, type WeightShard, type WeightFormat, type LoadFormat, type Quantization } from '../weights.js';
export { toBf16, uploadWeight } from '../weight-upload.js';
export { add } from './add.js';
export { linear, linearGeglu, linearMany, prepareWeights, matmulPlan, setMatmulPlan, linearVariant, MATMUL_VARIANTS } from './matmul.js';
export type { LinearArgs, LinearGegluArgs, LinearManyArgs, MatmulPlan, MatmulVariant, PreNorm } from './matmul.js';
export type { TextureTiling } from './matmul-texture.js';
export type { LoraDelta } from './lora.js';
export { rmsNorm, layerNorm, addRmsNorm } from './norm.js';
export { rope, ropeAppend, ropeInvFreq, type RopeAppendArgs } from './rope.js';
export { gelu, geglu } from './gelu.js';
export { embed } from './embed.js';
export { softmax } from './softmax.js';
export { argmax, topK } from './argmax.js';
export { sample, sampleMany, sampleProbs, type SamplingSettings, type Row as SampleRow } from './sample.js';
export { markSeen, seenBits, seenWords } from './seen-mark.js';
export { patchEmbed } from './patch-embed.js';
export { attention, attentionConfig, type AttentionArgs, type AttentionConfig } from './attention.js';
export { decodeAttention, decodeScratch, decodeSplitLen, type DecodeAttentionArgs, type DecodeScratch } from './attention-decode.js';
export { attentionWeights, type AttentionWeightsArgs } from './attention-weights.js';
export { conv2d, type Conv2dArgs, type Epilogue } from './conv2d.js';
export { convTranspose2d, type ConvTranspose2dArgs } from './conv-transpose2d.js';
export { codebookLookup, type CodebookLookupArgs } from './codebook-lookup.js';
export { grid, flatIndex } from './grid.js';
