// Detection and segmentation results drawn over the image (in image pixels: the overlay canvas has
// the image's size and is scaled with it), plus their list next to the output.

import type { Detection, Segmentation } from '../src/tasks.js';
import { el, PALETTE } from './dom.js';

export interface Objects {
  detections: Detection[];
  segmentations: Segmentation[];
}

export function drawObjects(canvas: HTMLCanvasElement, objs: Objects): void {
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
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

export function listObjects(list: HTMLElement, objs: Objects): void {
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
      ),
    ),
  ];
  list.replaceChildren(...items);
}
