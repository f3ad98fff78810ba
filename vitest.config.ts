import { defineConfig } from 'vitest/config';

// WebGPU runs on lavapipe (CPU): one test file at a time keeps the two cores for the GPU work.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  },
});
