// Every kernel the registry lists (kernels/registry.ts, `paligemma kernels show`) in its default
// variant and with each axis at each of its other values: the WGSL must compile in Dawn with no
// error. Shader modules only — no pipelines, which cost seconds each on lavapipe — so this checks
// the source (the #if blocks resolved as the variant wants), not the bindings against a layout.

import { describe, expect, it, vi } from 'vitest';
import { run as kernelsCommand } from '../src/cli/kernels.js';
import { KERNELS, axisVariants, kernelEntry, parseVariant, variantKey } from '../src/kernels/registry.js';
import { testGpu } from './helpers/gpu.js';

describe('kernel registry', () => {
  it('lists distinct kernels, each axis with distinct values', () => {
    expect(new Set(KERNELS.map((k) => k.name)).size).toBe(KERNELS.length);
    for (const k of KERNELS) for (const vals of Object.values(k.axes)) expect(new Set(vals).size, k.name).toBe(vals.length);
  });

  it('compiles every kernel in every axis value', async () => {
    const gpu = await testGpu();
    const errors: string[] = [];
    let compiled = 0;
    for (const k of KERNELS) {
      for (const v of axisVariants(k)) {
        // A variant that needs subgroups is only compiled where the device has them.
        if (k.subgroups?.(v) && !gpu.features.subgroups) continue;
        const module = gpu.device.createShaderModule({ label: k.name, code: k.code(v) });
        const info = await module.getCompilationInfo();
        const bad = info.messages.filter((m) => m.type === 'error');
        if (bad.length) errors.push(`${k.name} ${variantKey(v)}: ${bad.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
        compiled++;
      }
    }
    expect(errors).toEqual([]);
    expect(compiled).toBeGreaterThan(KERNELS.length);
    // The check itself: a WGSL error does come back as an error message (Dawn also prints it to stderr).
    const broken = await gpu.device.createShaderModule({ code: 'fn main() { let x: u32 = 1.5; }' }).getCompilationInfo();
    expect(broken.messages.some((m) => m.type === 'error')).toBe(true);
  });

  it('refuses unknown kernels, axes and values', () => {
    expect(() => kernelEntry('nope')).toThrow(/no kernel 'nope'/);
    const gelu = kernelEntry('gelu');
    expect(parseVariant(gelu, 'gated=true')).toEqual({ gated: 'true' });
    expect(() => parseVariant(gelu, 'gate=true')).toThrow(/no axis 'gate'/);
    expect(() => parseVariant(gelu, 'gated=maybe')).toThrow(/gated must be one of false, true/);
    expect(parseVariant(kernelEntry('norm'), 'per=32').per).toBe('32');
  });

  it('paligemma kernels list / show print the registry and a variant\'s final WGSL', async () => {
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((x: unknown) => void lines.push(String(x)));
    try {
      expect(await kernelsCommand(['list'])).toBe(0);
      expect(lines).toHaveLength(KERNELS.length);
      expect(lines.find((l) => l.startsWith('gelu '))).toMatch(/gelu\.ts\s+gated=false\|true/);
      lines.length = 0;
      expect(await kernelsCommand(['show', 'gelu', '--variant', 'gated=true'])).toBe(0);
      expect(lines.join('\n')).toBe(kernelEntry('gelu').code({ gated: 'true' }));
      expect(lines.join('\n')).toContain('out[i] = gelu(x[i]) * up[i];');
      expect(lines.join('\n')).not.toContain('#');
    } finally {
      log.mockRestore();
    }
    await expect(kernelsCommand(['show', 'gelu', '--variant', 'gated=maybe'])).rejects.toThrow(/gated must be one of false, true/);
    await expect(kernelsCommand(['show'])).rejects.toThrow(/usage: paligemma kernels list/);
  });
});

