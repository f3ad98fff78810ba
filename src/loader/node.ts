// Node-only entry: kept apart from checkpoint.ts so the browser bundle never imports fs.
import { loadCheckpoint, type LoadedCheckpoint, type LoadOptions } from './checkpoint.js';
import { NodeFileSource } from './node-source.js';

/** Load a checkpoint folder from disk (see loadCheckpoint). */
export function loadCheckpointFromDir(dir: string, device: GPUDevice, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  return loadCheckpoint(new NodeFileSource(dir), device, opts);
}

export { NodeFileSource } from './node-source.js';
