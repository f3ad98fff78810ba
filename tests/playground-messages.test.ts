// The playground's error banner names the cause in the user's terms: no WebGPU, an adapter limit,
// or a broken model folder (the loader's own CheckpointErrors, produced here by the real loader).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainError } from '../playground/session.js';
import { requestGpu } from '../src/browser/gpu.js';
import { GpuError } from '../src/device.js';
import { planCheckpoint } from '../src/loader/layout.js';
import { MemoryFileSource } from '../src/loader/memory-source.js';
import { rowsPerShard } from '../src/loader/upload.js';

const CHECKPOINT = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224', 'checkpoint');

describe('playground error messages', () => {
  it('says when WebGPU is missing', async () => {
    // Node has no navigator.gpu: the browser requestGpu fails as a browser without WebGPU would.
    const err = await requestGpu().catch((e: unknown) => e);
    expect(explainError(err).title).toBe('WebGPU is not available in this browser');
  });

  it('says when the adapter lacks a limit', () => {
    const loader = (() => {
      try {
        return rowsPerShard({ name: 'embed_tokens', file: 'model.safetensors', shape: [257216, 2048] }, 1024);
      } catch (e) {
        return e;
      }
    })();
    expect(explainError(loader).title).toBe('This GPU adapter lacks a limit the model needs');
    const dawn = new GpuError('GPU error: Buffer size (2147483648) exceeds the max buffer size limit (1073741824).');
    expect(explainError(dawn)).toEqual({ title: 'This GPU adapter lacks a limit the model needs', detail: dawn.message });
  });

  it('says when the model folder is incomplete', async () => {
    const source = new MemoryFileSource('half-a-model', new Map([['config.json', readFileSync(join(CHECKPOINT, 'config.json'), 'utf8')]]));
    const err = await planCheckpoint(source).catch((e: unknown) => e);
    const { title, detail } = explainError(err);
    expect(title).toBe('The model folder is incomplete or invalid');
    expect(detail).toMatch(/half-a-model/);
  });
});
