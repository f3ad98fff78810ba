// Detection and segmentation results drawn over the image (in image pixels: the overlay canvas has
// the image's size and is scaled with it), plus their list next to the output.

import { rgbOf } from '../src/image/overlay.js';
import type { ObjectMask } from '../src/masks.js';
import type { Detection, Segmentation } from '../src/tasks.js';
import { el, PALETTE } from './dom.js';

export interface Objects {
  detections: Detection[];
  segmentations: Segmentation[];
  /** Decoded masks, one per segmentation (when a mask decoder is loaded). */
  masks?: ObjectMask[];
  /** Segmentation indices whose mask is toggled off. */
  hiddenMasks?: ReadonlySet<number>;
}

/** The visible masks in their objects' colours at up to 50 % opacity, blended "over" in order. */
function drawMasks(ctx: CanvasRenderingContext2D, objs: Objects): void {
  const { width, height } = ctx.canvas;
  const layer = ctx.createImageData(width, height);
  const px = layer.data;
  objs.masks?.forEach((m, j) => {
    if (objs.hiddenMasks?.has(j) || m.mask.length !== width * height) return;
    const color = rgbOf(PALETTE[(objs.detections.length + j) % PALETTE.length]!);
    for (let p = 0; p < m.mask.length; p++) {
      const a = (0.5 * m.mask[p]!) / 255;
      if (a === 0) continue;
      const below = (px[p * 4 + 3]! / 255) * (1 - a);
      const alpha = a + below;
      for (let c = 0; c < 3; c++) px[p * 4 + c] = (color[c]! * a + px[p * 4 + c]! * below) / alpha;
      px[p * 4 + 3] = alpha * 255;
    }
  });
  ctx.putImageData(layer, 0, 0);
}

export function drawObjects(canvas: HTMLCanvasElement, objs: Objects): void {
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (objs.masks?.length) drawMasks(ctx, objs);
  // Lines and labels keep a readable size whatever the image's resolution.
  const unit = Math.max(1, Math.min(canvas.width, canvas.height) / 200);
  const boxes = [
    ...objs.detections.map((d) => ({ box: d, label: d.label, dashed: false })),
    ...objs.segmentations.map((s) => ({ box: s.box, label: s.label, dashed: true })),
  ];
  ctx.font = `600 ${Math.round(7 * unit)}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  boxes.forEach(({ box, label, dashed }, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const w = box.x1 - box.x0;
    const h = box.y1 - box.y0;
    ctx.lineWidth = 1.5 * unit;
    ctx.strokeStyle = color;
    ctx.setLineDash(dashed ? [4 * unit, 3 * unit] : []);
    ctx.strokeRect(box.x0, box.y0, w, h);
    const text = label || '(no label)';
    const pad = 2 * unit;
    const tw = ctx.measureText(text).width + 2 * pad;
    const th = 7 * unit + 2 * pad;
    // The label sits above the box, or inside it when the box touches the top edge.
    const ty = box.y0 - th >= 0 ? box.y0 - th : box.y0;
    ctx.fillStyle = color;
    ctx.fillRect(box.x0 - ctx.lineWidth / 2, ty, tw, th);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, box.x0 + pad - ctx.lineWidth / 2, ty + pad);
  });
}

const fmt = (v: number) => v.toFixed(0);

/** The object list; segmentations with a mask get a toggle that calls `onToggle(j, visible)`. */
export function listObjects(list: HTMLElement, objs: Objects, onToggle?: (j: number, visible: boolean) => void): void {
  const swatch = (i: number) => {
    const s = el('span', { className: 'swatch' });
    s.style.background = PALETTE[i % PALETTE.length]!;
    return s;
  };
  const items = [
    ...objs.detections.map((d, i) => el('li', {}, swatch(i), `${d.label || '(no label)'} `, el('code', {}, `(${fmt(d.x0)}, ${fmt(d.y0)}) – (${fmt(d.x1)}, ${fmt(d.y1)})`))),
    ...objs.segmentations.map((s, j) =>
      el(
        'li',
        {},
        swatch(objs.detections.length + j),
        `${s.label || '(no label)'} `,
        el('code', {}, `(${fmt(s.box.x0)}, ${fmt(s.box.y0)}) – (${fmt(s.box.x1)}, ${fmt(s.box.y1)}) · codewords ${s.codewords.join(' ')}`),
        ...maskToggle(objs, j, onToggle),
      ),
    ),
  ];
  list.replaceChildren(...items);
}

function maskToggle(objs: Objects, j: number, onToggle?: (j: number, visible: boolean) => void): HTMLElement[] {
  const m = objs.masks?.[j];
  if (!m) return [];
  const box = el('input', { type: 'checkbox', checked: !objs.hiddenMasks?.has(j) });
  box.dataset.mask = String(j);
  box.addEventListener('change', () => onToggle?.(j, box.checked));
  return [el('label', { className: 'mask-toggle', title: 'show this object\'s mask' }, box, ` mask · ${m.area} px`)];
}
