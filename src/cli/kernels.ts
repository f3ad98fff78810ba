// `paligemma kernels list|show`: the WGSL the runtime compiles, for reading — every kernel with its
// variant axes (kernels/registry.ts), and the final source of one variant, #if blocks resolved.

import { parseArgs } from 'node:util';
import { KERNELS, kernelEntry, parseVariant } from '../kernels/registry.js';
import { UsageError } from './args.js';

export const summary = 'list the WGSL kernels and their variant axes, or print one variant’s final WGSL';

const USAGE = `usage: paligemma kernels list
       paligemma kernels show NAME [--variant AXIS=VALUE,…]

list: every kernel, its file in src/kernels, and its axes (the first value of each is the default).
show: the WGSL of NAME's variant, as handed to createShaderModule; axes not named take their
  default; numeric axes take any whole number. Example:
  paligemma kernels show matmul-gemv --variant format=int4,rows=2,geglu=true`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { variant: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const { values: o, positionals: [what, name, ...extra] } = parsed;
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (what === 'list' && name === undefined && o.variant === undefined) {
    for (const k of KERNELS) {
      const axes = Object.entries(k.axes).map(([a, vals]) => `${a}=${vals.join('|')}`);
      console.log(`${k.name.padEnd(24)} ${k.file.padEnd(22)} ${axes.join(' ') || '(one variant)'}`);
    }
    return 0;
  }
  if (what === 'show' && name !== undefined && extra.length === 0) {
    let k, v;
    try {
      k = kernelEntry(name);
      v = parseVariant(k, o.variant);
    } catch (e) {
      throw new UsageError(`kernels show: ${(e as Error).message}`);
    }
    console.log(k.code(v));
    return 0;
  }
  throw new UsageError(USAGE);
}
