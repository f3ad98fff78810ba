// The generated text (with <loc>/<seg> tokens set apart) and one chip per generated token.

import { el } from './dom.js';

export function renderText(output: HTMLElement, text: string): void {
  output.replaceChildren(
    ...text.split(/(<loc\d{4}>|<seg\d{3}>)/).map((part) => (/^<(loc|seg)/.test(part) ? el('span', { className: part.slice(1, 4) }, part) : part)),
  );
}

/** Chips showing each token's vocabulary piece and id; clicking one selects it (for the attention view). */
export function renderTokens(container: HTMLElement, ids: number[], piece: (id: number) => string, selected: number | undefined, onSelect: (index: number) => void): void {
  container.replaceChildren(
    ...ids.map((id, k) => {
      const b = el('button', { className: k === selected ? 'sel' : '', title: `token ${k}: id ${id} · click for its attention map` }, piece(id).replace(/▁/g, '␣'), el('small', {}, String(id)));
      b.dataset.index = String(k);
      b.dataset.id = String(id);
      b.addEventListener('click', () => onSelect(k));
      return b;
    }),
  );
}
