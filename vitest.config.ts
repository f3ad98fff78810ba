import { defineConfig } from 'vitest/config';

// WebGPU runs on lavapipe (CPU), which compiles a pipeline with LLVM on one thread at its first
// dispatch: a fresh clone's run with an empty shader cache is mostly compiling, one file at a time
// left a core idle. Two files at a time keep both busy (empty cache: 871 s with one, 422 s with two,
// 438 s with three). One file runs after the rest, alone: the quiet-wait test compares its own thread's CPU
// time with the wall clock, which the other files' load would skew. dist/ is built once first
// (tests/setup/build.ts) for the files that run it.
const common = {
  testTimeout: 300_000,
  hookTimeout: 300_000,
  env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
};
const quiet = 'tests/quiet-wait.test.ts';

export default defineConfig({
  test: {
    globalSetup: ['tests/setup/build.ts'],
    projects: [
      { test: { ...common, name: 'parallel', include: ['tests/**/*.test.ts'], exclude: [quiet], maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { test: { ...common, name: 'quiet', include: [quiet], maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
