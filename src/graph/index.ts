/// <reference types="@webgpu/types" preserve="true" />
// The model as a graph of kernels (`paligemma-webgpu/graph`): PaliGemma over a loaded checkpoint,
// its parts, generation, and the segmentation-mask decoder.
export { PaliGemma, ContextError, type SequenceInput } from './paligemma.js';
export { Siglip } from './siglip.js';
export { Projector } from './projector.js';
export { Gemma, type Batch } from './gemma.js';
export { generate, precompile, Generation, resolveSampling, type GenerateOptions, type GeneratedToken, type GenerationTimings, type Sampling, type ResolvedSampling } from './generate.js';
export { LoraAdapter, loadLoraAdapter } from './lora.js';
export type { LoraConfig, LoraModule, LoraAdapterData } from '../loader/lora.js';
export type { WeightMap } from './weights.js';
export { MaskDecoder, MASK_DECODER_FILE, type TensorSource } from './mask-decoder.js';
