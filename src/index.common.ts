// Everything that runs the same in Node and the browser.
export { Gpu, GpuError, Step, type Binding, type Kernel, type KernelDef } from './device.js';
export { describeAdapter, type GpuOptions } from './adapter.js';
export { params, paramsWgsl } from './uniforms.js';
export { add } from './kernels/add.js';
export { rmsNorm, layerNorm, addRmsNorm } from './kernels/norm.js';
export { rope, ropeInvFreq } from './kernels/rope.js';
export { gelu, geglu } from './kernels/gelu.js';
export { embed } from './kernels/embed.js';
export { softmax } from './kernels/softmax.js';
export { argmax, topK } from './kernels/argmax.js';
export { sample } from './kernels/sample.js';
export { patchEmbed } from './kernels/patch-embed.js';
export { attention, attentionConfig, type AttentionArgs, type AttentionConfig } from './kernels/attention.js';
export { decodeAttention, decodeSplitLen, type DecodeAttentionArgs } from './kernels/attention-decode.js';
export { attentionWeights, type AttentionWeightsArgs } from './kernels/attention-weights.js';
