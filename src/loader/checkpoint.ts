import type { PaliGemmaConfig } from './config.js';
import { releaseDestroyed } from '../device.js';
import type { GenerationConfig, PreprocessorConfig } from './extra-config.js';
import { planCheckpoint, type CheckpointPlan } from './layout.js';
import { EMBED, LM_HEAD } from './names.js';
import type { FileSource } from './source.js';
import { allocateWeight, rowsPerShard, streamTensors, textureLayerRows, type GpuWeight, type LoadProgress, type LoadTensor } from './upload.js';
import { fitsTexture, weightTexture } from '../kernels/weight-texture.js';
import type { Quantization } from '../weights.js';

export type { GpuWeight, LoadProgress, WeightShard } from './upload.js';

export interface LoadOptions {
  onProgress?: (p: LoadProgress) => void;
  /** Size of each of the four staging buffers: the largest piece of a file read at once (default 16 MiB). */
  stagingBytes?: number;
  /** Largest single GPU buffer per weight (default device.limits.maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
  /**
   * Tensors to store as rgba32uint weight textures (the layout the matmul kernels read on CPU
   * adapters, see kernels/weight-texture.ts) instead of buffers — written straight from the file,
   * with no buffer copy to repack later. Taken only for tensors that fitsTexture whose row
   * fits a staging buffer and whose texture fits the device with at most a staging buffer's worth
   * of rows per layer.
   */
  textures?: (t: { name: string; shape: number[] }) => boolean;
  /**
   * The tensors to quantize while they stream, and to what (quantize.ts, docs/quantization.md);
   * only the codes and scales reach the GPU. Default: none, every weight stays bf16.
   */
  quantize?: (t: { name: string; shape: number[] }) => Quantization | undefined;
  /**
   * Called once the checkpoint is validated, before anything is allocated: throw to refuse it (the
   * Node loader checks the memory it will take, loader/memory.ts).
   */
  beforeUpload?: (plan: CheckpointPlan) => void;
  /**
   * Called once every weight is allocated, before any is written, with the checkpoint that the load
   * then returns (bytesRead and seconds still 0): work that only needs the weights to exist (a model
   * recorded to compile its pipelines, graph/generate.ts precompile's `ahead`) can start. Nothing
   * may read the weights or hold the device's queue before the load resolves.
   */
  beforeStream?: (checkpoint: LoadedCheckpoint) => void;
}

export interface LoadedCheckpoint {
  config: PaliGemmaConfig;
  preprocessor: PreprocessorConfig | null;
  generation: GenerationConfig | null;
  /**
   * Canonical name (old HF naming, names.ts) -> weight. The LM head is always present under
   * 'language_model.lm_head.weight'; when the file has none it is the very same object as
   * embed_tokens (tied, no copy).
   */
  weights: Map<string, GpuWeight>;
  warnings: string[];
  bytesRead: number;
  seconds: number;
}

const MiB = 1024 * 1024;

/**
 * Validate a PaliGemma-1 checkpoint completely (config, every header, names, shapes, dtypes),
 * then stream its tensors into bf16 GPU buffers. Nothing is allocated on the GPU until the
 * whole checkpoint has been checked, and on failure the buffers made so far are destroyed.
 * Bad input throws CheckpointError; GPU or I/O failures throw their own errors.
 * The source is closed (source.close) when loading ends, successfully or not.
 */
export async function loadCheckpoint(source: FileSource, device: GPUDevice, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  const started = performance.now();
  try {
    const plan = await planCheckpoint(source);
    opts.beforeUpload?.(plan);
    const maxBindingBytes = Math.min(
      opts.maxBindingBytes ?? device.limits.maxStorageBufferBindingSize,
      device.limits.maxBufferSize,
    );
    const stagingBytes = Math.max(16, Math.floor((opts.stagingBytes ?? 16 * MiB) / 4) * 4);
    // Largest files first is not needed; keep file order so reads are sequential per shard.
    const tensors: LoadTensor[] = [...plan.tensors.values()]
      .sort((a, b) => (a.file === b.file ? a.offset - b.offset : a.file < b.file ? -1 : 1))
      .map((t) => ({ ...t, format: (t.shape.length >= 2 && opts.quantize?.({ name: t.name, shape: t.shape })) || 'bf16' }));
    for (const t of tensors) rowsPerShard(t, maxBindingBytes);

    const weights = new Map<string, GpuWeight>();
    try {
      device.pushErrorScope('out-of-memory');
      const textureRows = (t: (typeof tensors)[number]) => {
        if (!opts.textures?.({ name: t.name, shape: t.shape })) return undefined;
        const rows = textureLayerRows(t, stagingBytes);
        return rows > 0 && fitsTexture(device.limits, t.shape, rows, t.format) ? rows : undefined;
      };
      for (const t of tensors) weights.set(t.name, allocateWeight(device, t, maxBindingBytes, textureRows(t)));
      const oom = await device.popErrorScope();
      if (oom) throw new Error(`${source.name}: out of GPU memory while allocating weights: ${oom.message}`);
      if (plan.tiedLmHead) weights.set(LM_HEAD, weights.get(EMBED)!);
      const loaded: LoadedCheckpoint = { config: plan.config, preprocessor: plan.preprocessor, generation: plan.generation, weights, warnings: plan.warnings, bytesRead: 0, seconds: 0 };
      opts.beforeStream?.(loaded);
      loaded.bytesRead = await streamTensors(source, device, tensors, weights, { stagingBytes, onProgress: opts.onProgress });
      loaded.seconds = (performance.now() - started) / 1000;
      return loaded;
    } catch (e) {
      destroyWeights(weights, device);
      throw e;
    }
  } finally {
    await source.close?.();
  }
}

/**
 * Destroy every GPU buffer and weight texture of a loaded checkpoint (tied weights are destroyed
 * once); with the `device` they live on, their memory is freed now (releaseDestroyed), not at the
 * device's next work.
 */
export function destroyWeights(weights: Map<string, GpuWeight>, device?: GPUDevice): void {
  for (const w of new Set(weights.values())) {
    for (const s of w.shards) s.buffer.destroy();
    weightTexture(w)?.texture.destroy();
  }
  if (device) releaseDestroyed(device);
}

/** GPU bytes the weights hold (buffers and weight textures; tied weights once). */
export function residentBytes(weights: Map<string, GpuWeight>): number {
  let bytes = 0;
  for (const w of new Set(weights.values())) {
    for (const s of w.shards) bytes += s.buffer.size;
    const t = weightTexture(w)?.texture;
    if (t) bytes += t.width * t.height * t.depthOrArrayLayers * 16;
  }
  return bytes;
}
