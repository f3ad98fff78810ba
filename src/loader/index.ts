// Browser-safe loader API (no Node imports here; Node callers also use ./node.js).
export { CheckpointError } from './errors.js';
export type { FileSource } from './source.js';
export { parseConfig, type PaliGemmaConfig, type TextConfig, type VisionConfig, type Activation } from './config.js';
export { parsePreprocessorConfig, parseGenerationConfig, type PreprocessorConfig, type GenerationConfig } from './extra-config.js';
export { readSafetensorsHeader, parseSafetensors, type SafetensorsHeader, type TensorEntry } from './safetensors.js';
export { canonicalName, expectedTensors, EMBED, LM_HEAD } from './names.js';
export { planCheckpoint, type CheckpointPlan, type PlannedTensor, type WeightDtype } from './layout.js';
export { loadCheckpoint, destroyWeights, type LoadedCheckpoint, type LoadOptions, type GpuWeight, type WeightShard, type LoadProgress } from './checkpoint.js';
export { f32BitsToBf16, f16BitsToF32Bits } from './bf16.js';
export { MemoryFileSource } from './memory-source.js';
export { HubError, parseRepoRef, parseHubUrl, isRepoId, type RepoRef } from './hub.js';
