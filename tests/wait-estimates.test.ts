// Gpu.settle's sleep before polling: never longer than a time measured for at most as much work.

import { describe, expect, it } from 'vitest';
import { WaitEstimates } from '../src/wait-estimates.js';

describe('WaitEstimates', () => {
  it('knows nothing of a new label', () => {
    expect(new WaitEstimates().expected('decode-token', 1e9)).toBeUndefined();
  });

  it('gives the last time for the same work', () => {
    const w = new WaitEstimates();
    w.learn('decode-token', 1e9, 700);
    w.learn('decode-token', 1e9, 650);
    expect(w.expected('decode-token', 1e9)).toBe(650);
    expect(w.expected('first-token', 1e9)).toBeUndefined();
  });

  it('does not scale up a time by the work: a batch of 4 reads the weights once, as a batch of 1 does', () => {
    const w = new WaitEstimates();
    w.learn('decode-token', 1e9, 700);
    expect(w.expected('decode-token', 4e9)).toBe(700);
    w.learn('decode-token', 2e9, 900);
    expect(w.expected('decode-token', 4e9)).toBe(900);
    expect(w.expected('decode-token', 3e9)).toBe(900);
    expect(w.expected('decode-token', 1.5e9)).toBe(700);
  });

  it('scales down the least work above, when nothing smaller was seen (one image after four)', () => {
    const w = new WaitEstimates();
    w.learn('vision', 4e12, 600);
    w.learn('vision', 8e12, 1000);
    expect(w.expected('vision', 1e12)).toBe(150);
    w.learn('vision', 0, 5);
    expect(w.expected('vision', 1e12)).toBe(5);
  });

  it('keeps the most recent amounts of work only', () => {
    const w = new WaitEstimates();
    for (let f = 1; f <= 200; f++) w.learn('prefill', f, f);
    expect(w.expected('prefill', 200)).toBe(200);
    // 1 … 136 are forgotten: the least work above 100 that is kept is 137, scaled down.
    expect(w.expected('prefill', 100)).toBeCloseTo(100);
    expect(w.expected('prefill', 1)).toBeCloseTo(1);
    w.learn('prefill', 137, 500);
    expect(w.expected('prefill', 100)).toBeCloseTo((500 * 100) / 137);
  });

  it('guesses new work at half its time at the best rate measured, and nothing before any was', () => {
    const w = new WaitEstimates();
    expect(w.byRate(1e12)).toBe(0);
    w.learnRate(1e12, 40_000);
    expect(w.byRate(2e12)).toBe(40_000);
    // Slower work does not lengthen the guess; a time of 20 ms or less, or no work, teaches nothing.
    w.learnRate(1e12, 60_000);
    w.learnRate(1e12, 15);
    w.learnRate(0, 500);
    expect(w.byRate(2e12)).toBe(40_000);
    w.learnRate(2e12, 40_000);
    expect(w.byRate(1e12)).toBe(10_000);
  });
});
