// Attention maps for the page: one head (or the mean of all heads) of one layer, for one generated
// token, restricted to the image patches (PaliGemma.attentionMap gives the whole sequence).

import type { PaliGemma } from '../src/graph/paligemma.js';
import { el } from './dom.js';

export function fillAttentionControls(layer: HTMLSelectElement, head: HTMLSelectElement, model: PaliGemma): void {
  const t = model.config.text;
  const opts = (n: number) => Array.from({ length: n }, (_, i) => el('option', { value: String(i) }, String(i)));
  layer.replaceChildren(...opts(t.numLayers));
  layer.value = String(t.numLayers - 1);
  head.replaceChildren(el('option', { value: 'mean' }, 'mean'), ...opts(t.numHeads));
}

export interface ImageAttention {
  /** One map per image of the prompt (numImageTokens patches each, row-major), in order. */
  maps: Float32Array[];
  /** Each image's share of the token's attention. */
  shares: number[];
  /** All images' share. */
  mass: number;
}

const sum = (a: Float32Array) => a.reduce((s, x) => s + x, 0);

/** Attention of generated token `token` over the patches of each image of the prompt, and the share of its attention they get. */
export async function imageAttention(model: PaliGemma, layer: number, head: number | 'mean', token: number): Promise<ImageAttention> {
  const heads = head === 'mean' ? [...Array(model.config.text.numHeads).keys()] : [head];
  const per = model.config.numImageTokens;
  const n = per * model.images[0]!;
  const patches = new Float32Array(n);
  // Every head's reads are submitted in this tick: a generation started meanwhile cannot mix in.
  for (const w of await Promise.all(heads.map((h) => model.attentionMap(layer, h, token)))) {
    for (let i = 0; i < n; i++) patches[i]! += w[i]! / heads.length;
  }
  const maps = Array.from({ length: n / per }, (_, k) => patches.subarray(k * per, (k + 1) * per));
  return { maps, shares: maps.map(sum), mass: sum(patches) };
}
