// The images of one prompt side by side (several pictures, or a video's sampled frames): a
// thumbnail each with its own attention heatmap and a caption; clicking one shows it on the stage.

import { el } from './dom.js';
import { drawImage, type PageImage } from './image.js';

/** Fills the strip and returns each thumbnail's heatmap canvas (the strip is hidden for one image). */
export function renderStrip(strip: HTMLElement, images: PageImage[], captions: string[], onShow: (k: number) => void): HTMLCanvasElement[] {
  strip.hidden = images.length < 2;
  const heat: HTMLCanvasElement[] = [];
  strip.replaceChildren(
    ...images.map((img, k) => {
      const picture = el('canvas');
      const map = el('canvas', { className: 'heat' });
      drawImage([picture, map], img.image);
      heat.push(map);
      const b = el('button', { className: 'thumb', title: `${img.name}: show it on the stage` }, el('span', { className: 'pics' }, picture, map), el('small', {}, captions[k]!));
      b.dataset.index = String(k);
      b.addEventListener('click', () => onShow(k));
      return b;
    }),
  );
  return heat;
}

/** Marks the thumbnail shown on the stage. */
export function markShown(strip: HTMLElement, k: number): void {
  for (const b of strip.querySelectorAll<HTMLElement>('button.thumb')) b.classList.toggle('sel', b.dataset.index === String(k));
}
