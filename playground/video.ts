// A short video as PaliGemma's "short video caption" takes it: N frames sampled in the page (the
// browser decodes, an HTMLVideoElement seeks, a canvas reads the pixels), evenly spaced over the
// clip — the middle of each of N equal parts, so neither end's black or half-loaded frame is taken.

import type { RgbImage } from '../src/image/decode.js';
import { drawnImage } from './image.js';

export const DEFAULT_FRAMES = 8;
/** Past this many frames the image tokens alone outgrow small models' contexts (and the page's patience). */
export const MAX_FRAMES = 32;

/** Whether a picked file is a video (its type, else its name: some systems type no .mkv or .mov). */
export function isVideo(file: File): boolean {
  return file.type.startsWith('video/') || /\.(webm|mp4|m4v|mov|mkv|ogv|avi)$/i.test(file.name);
}

/** The times (s) of n frames evenly spaced over a clip of `duration` seconds. */
export function frameTimes(duration: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => ((k + 0.5) * duration) / n);
}

/** Resolves on `event`, rejects on the element's error event with `problem`. */
function next(video: HTMLVideoElement, event: string, problem: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = () => (off(), resolve());
    const bad = () => (off(), reject(new Error(problem())));
    const off = () => {
      video.removeEventListener(event, ok);
      video.removeEventListener('error', bad);
    };
    video.addEventListener(event, ok);
    video.addEventListener('error', bad);
  });
}

/**
 * Seeks to `t` and resolves once that frame can be drawn: after 'seeked' and, where the browser
 * tells, once the frame is presented — on a busy machine Chromium drew the frame before the seek
 * after 'seeked' alone. A seek that lands on the frame already shown presents nothing new: the wait
 * for it gives up after a second.
 */
async function seek(video: HTMLVideoElement, t: number, problem: () => string): Promise<void> {
  const presented = new Promise<void>((resolve) => {
    // Not in every browser yet (Firefox < 132): there 'seeked' is all there is.
    const frameCallback = 'requestVideoFrameCallback' in video;
    if (frameCallback) video.requestVideoFrameCallback(() => resolve());
    setTimeout(resolve, frameCallback ? 1000 : 0);
  });
  const seeked = next(video, 'seeked', problem);
  video.currentTime = t;
  await seeked;
  await presented;
}

export interface VideoFrames {
  frames: RgbImage[];
  /** Each frame's time in seconds. */
  times: number[];
  duration: number;
}

/** n frames of the video in `blob` (any format the browser plays), each at the video's own size. */
export async function sampleVideoFrames(blob: Blob, name: string, n = DEFAULT_FRAMES): Promise<VideoFrames> {
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_FRAMES)) throw new RangeError(`frames must be a whole number from 1 to ${MAX_FRAMES}, got ${n}`);
  const url = URL.createObjectURL(blob);
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  const cannot = (what: string) => () => `${name}: this browser cannot ${what} (${video.error?.message || `media error ${video.error?.code ?? '?'}`})`;
  try {
    const loaded = next(video, 'loadeddata', cannot('decode this video'));
    video.src = url;
    await loaded;
    // A recorder's WebM names no duration until its end was seen: seeking far makes the browser find it.
    if (video.duration === Infinity) {
      const found = next(video, 'seeked', cannot('seek in this video'));
      video.currentTime = Number.MAX_SAFE_INTEGER;
      await found;
    }
    const duration = video.duration;
    if (!(duration > 0 && Number.isFinite(duration)) || video.videoWidth === 0) throw new Error(`${name}: no video frames to sample (duration ${duration} s, ${video.videoWidth}×${video.videoHeight})`);
    const times = frameTimes(duration, n);
    const frames: RgbImage[] = [];
    for (const t of times) {
      await seek(video, t, cannot(`seek to ${t.toFixed(2)} s`));
      frames.push(drawnImage(video, video.videoWidth, video.videoHeight));
    }
    return { frames, times, duration };
  } finally {
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  }
}
