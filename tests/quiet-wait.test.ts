// quietly(): awaiting a GPU promise without Dawn-node's busy poll taking a core.

import { describe, expect, it } from 'vitest';
import { mainThreadCpuMs } from '../src/node/thread-cpu.js';
import { quietly } from '../src/quiet-wait.js';
import { params, paramsWgsl } from '../src/uniforms.js';
import { testGpu } from './helpers/gpu.js';

const P = { n: 'u32' } as const;
const BUSY = {
  name: 'test-busy-loop',
  bindings: ['write'] as const,
  code: `${paramsWgsl(P)}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  var x = f32(g.x);
  for (var i = 0u; i < p.n; i++) { x = fma(x, 0.999, 0.5); }
  out[g.x] = x;
}`,
};

describe('quietly', () => {
  it('passes the value and the rejection through', async () => {
    await expect(quietly(Promise.resolve(7))).resolves.toBe(7);
    await expect(quietly(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('leaves the core to the CPU adapter while GPU work is pending', async () => {
    const gpu = await testGpu();
    const out = gpu.buffer(64 * 64 * 4, 'out');
    const k = gpu.kernel({ ...BUSY, bindings: [...BUSY.bindings] });
    const run = async (wait: (p: Promise<undefined>) => Promise<undefined>) => {
      const step = gpu.step('busy');
      step.dispatch(k, [out], params({ n: 400_000 }, P), [64]);
      step.end();
      const [c0, t0] = [mainThreadCpuMs()!, performance.now()];
      await wait(gpu.device.queue.onSubmittedWorkDone());
      return { cpu: mainThreadCpuMs()! - c0, wall: performance.now() - t0 };
    };
    const spun = await run((p) => p);
    const quiet = await run(quietly);
    // Dawn-node polls a pending promise without pause: plain awaiting keeps the thread busy.
    expect(spun.wall).toBeGreaterThan(100);
    expect(spun.cpu).toBeGreaterThan(0.5 * spun.wall);
    expect(quiet.wall).toBeGreaterThan(100);
    expect(quiet.cpu).toBeLessThan(0.25 * quiet.wall);
  });
});
