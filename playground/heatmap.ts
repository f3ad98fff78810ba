// The attention view: one head's attention probabilities over the image patches, as a heatmap over
// the image. The model sees the image squashed to a square, so the patch grid spans the whole image.

/** The smallest and largest weight: the heatmap's colour scale. */
export function weightRange(weights: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const w of weights) {
    min = Math.min(min, w);
    max = Math.max(max, w);
  }
  return { min, max };
}

/**
 * Draws `weights` (grid×grid patches, row-major) stretched between their minimum and maximum (or
 * those of `scale`: several images' maps on one scale), so the patches a head prefers stand out
 * even when its attention is spread almost evenly.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, weights: Float32Array, grid: number, scale = weightRange(weights)): void {
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const { min, max } = scale;
  const range = max - min;
  if (!(range > 0)) return;
  const cells = new ImageData(grid, grid);
  for (let i = 0; i < grid * grid; i++) {
    const t = (weights[i]! - min) / range;
    // A warm ramp (red → yellow) that stays visible on any photo; alpha follows the weight.
    cells.data[4 * i] = 255;
    cells.data[4 * i + 1] = Math.round(40 + 215 * t);
    cells.data[4 * i + 2] = Math.round(40 * (1 - t));
    cells.data[4 * i + 3] = Math.round(190 * t);
  }
  const small = new OffscreenCanvas(grid, grid);
  small.getContext('2d')!.putImageData(cells, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

export function clearHeatmap(canvas: HTMLCanvasElement): void {
  canvas.getContext('2d')!.clearRect(0, 0, canvas.width, canvas.height);
}
