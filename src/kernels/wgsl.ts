// The `wgsl` template tag kernels write their variants with: WGSL where the branches between
// variants are `#if ${cond}` / `#elif ${cond}` / `#else` / `#endif` blocks (npm wgsl-preprocessor),
// and values (sizes, workgroup shapes, unrolled lines) stay plain `${…}` interpolations. Every
// interpolation is evaluated whether or not its block is kept, so a block must not call a builder
// that is only valid for its own variant. A directive the preprocessor does not recognise (a typo,
// or `#endif` glued to the next character) would be copied into the shader as is; WGSL has no `#`,
// so the tag refuses any left in its output.

// @ts-expect-error: the package ships no types (an ambient declaration would not reach the
// build's .d.ts program); its one export is typed by the wrapper below.
import { wgsl as preprocess } from 'wgsl-preprocessor/wgsl-preprocessor.js';

export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string {
  // Each directive line leaves an empty one behind: runs of them become one, for `kernels show`.
  const out = (preprocess(strings, ...values) as string).replace(/\n[ \t]*\n(?:[ \t]*\n)+/g, '\n\n');
  const left = /#\S*/.exec(out);
  if (left) throw new Error(`wgsl: '${left[0]}' is not a preprocessor directive (#if \${…}, #elif \${…}, #else, #endif, each followed by white space)`);
  return out;
}
