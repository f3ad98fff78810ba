// Looking up a checkpoint's weights by their canonical (old Hugging Face) names.

import { CheckpointError } from '../loader/errors.js';
import type { GpuWeight } from '../weights.js';

export type WeightMap = Map<string, GpuWeight>;

export function weightGetter(weights: WeightMap, prefix: string): (name: string) => GpuWeight {
  return (name) => {
    const w = weights.get(prefix + name);
    if (!w) throw new CheckpointError('checkpoint', `missing tensor ${prefix + name}`);
    return w;
  };
}
