import { describe, expect, it } from 'vitest';
import { parseDetections, parseSegmentations, taskPrompt } from '../src/tasks.js';

const loc = (...v: number[]) => v.map((x) => `<loc${String(x).padStart(4, '0')}>`).join('');
const seg = (...v: number[]) => v.map((x) => `<seg${String(x).padStart(3, '0')}>`).join('');
const SEGS = Array.from({ length: 16 }, (_, i) => i * 8);

describe('taskPrompt', () => {
  it('builds the documented prefixes', () => {
    expect(taskPrompt('caption')).toBe('caption en');
    expect(taskPrompt('caption', { lang: 'de' })).toBe('caption de');
    expect(taskPrompt('describe', { lang: 'fr' })).toBe('describe fr');
    expect(taskPrompt('cap', { lang: 'es' })).toBe('cap es');
    expect(taskPrompt('ocr')).toBe('ocr');
    expect(taskPrompt('answer', { text: 'What is on the flower?' })).toBe('answer en What is on the flower?');
    expect(taskPrompt('question', { lang: 'it', text: 'a bee' })).toBe('question it a bee');
    expect(taskPrompt('detect', { text: ['cat', ' dog '] })).toBe('detect cat ; dog');
    expect(taskPrompt('detect', { text: 'shoe' })).toBe('detect shoe');
    expect(taskPrompt('segment', { text: ['left person'] })).toBe('segment left person');
  });

  it('refuses missing text and bad language codes', () => {
    expect(() => taskPrompt('answer')).toThrow(/needs a question/);
    expect(() => taskPrompt('detect', { text: '  ' })).toThrow(/object/);
    expect(() => taskPrompt('segment', { text: [] })).toThrow(/object/);
    expect(() => taskPrompt('caption', { lang: 'en us' })).toThrow(/language/);
  });
});

describe('parseDetections', () => {
  it('parses the HF-tests example (y, x order, bins of 1024)', () => {
    const [d] = parseDetections('<loc0051><loc0309><loc0708><loc0646> shoe', 1024, 512);
    expect(d.label).toBe('shoe');
    expect(d).toMatchObject({ x0: 309, y0: 25.5, x1: 646, y1: 354 });
  });

  it('parses several objects separated by " ; " and labels with spaces', () => {
    const text = `${loc(0, 0, 1023, 512)} cat ; ${loc(100, 200, 300, 400)} brown dog;${loc(10, 20, 30, 40)}`;
    const ds = parseDetections(text, 2048, 1024);
    expect(ds.map((d) => d.label)).toEqual(['cat', 'brown dog', '']);
    expect(ds[0]).toMatchObject({ x0: 0, y0: 0, x1: 1024, y1: 1023 });
    expect(ds[1]).toMatchObject({ x0: 400, y0: 100, x1: 800, y1: 300 });
  });

  it('honours divisor 1023 (big_vision)', () => {
    const [d] = parseDetections(`${loc(0, 0, 1023, 1023)} all`, 300, 200, { divisor: 1023 });
    expect(d).toMatchObject({ x0: 0, y0: 0, x1: 300, y1: 200 });
  });

  it('ignores seg tokens and leading text', () => {
    const ds = parseDetections(`detect cat\n${loc(1, 2, 3, 4)}${seg(...SEGS)} cat`, 1024, 1024);
    expect(ds).toEqual([{ label: 'cat', x0: 2, y0: 1, x1: 4, y1: 3 }]);
  });

  it('skips malformed objects without crashing', () => {
    const text = [
      `${loc(1, 2, 3)} three locs`,
      `${loc(1, 2, 3, 4, 5)} five locs`,
      `${loc(1, 2, 3, 4)} good`,
      '<loc12> short digits',
      `${loc(1, 2)}<seg001>${loc(3, 4)} split by seg`,
      '<loc1024><loc0000><loc0001><loc0002> out of range',
      'no tokens at all',
    ].join(' ; ');
    expect(parseDetections(text, 1024, 1024).map((d) => d.label)).toEqual(['good']);
    expect(parseDetections('', 10, 10)).toEqual([]);
    expect(parseDetections('<loc0001><loc', 10, 10)).toEqual([]);
  });

  it('refuses a non-positive image size', () => {
    expect(() => parseDetections('', 0, 10)).toThrow(RangeError);
  });
});

describe('parseSegmentations', () => {
  it('parses box + 16 codewords + label', () => {
    const text = `${loc(100, 200, 300, 400)} ${seg(...SEGS)} left person ; ${loc(0, 0, 512, 512)}${seg(...SEGS.map((v) => 127 - v))} car`;
    const ss = parseSegmentations(text, 1024, 2048);
    expect(ss).toHaveLength(2);
    expect(ss[0]).toEqual({ label: 'left person', box: { x0: 200, y0: 200, x1: 400, y1: 600 }, codewords: SEGS });
    expect(ss[1].label).toBe('car');
    expect(ss[1].codewords[0]).toBe(127);
  });

  it('skips wrong seg counts, detections without masks, out-of-range codes and empty boxes', () => {
    const text = [
      `${loc(1, 2, 3, 4)}${seg(...SEGS.slice(0, 15))} fifteen`,
      `${loc(1, 2, 3, 4)}${seg(...SEGS, 5)} seventeen`,
      `${loc(1, 2, 3, 4)} no mask`,
      `${loc(1, 2, 3, 4)}<seg128>${seg(...SEGS.slice(1))} code 128`,
      `${loc(5, 2, 5, 4)}${seg(...SEGS)} zero height`,
      `${loc(1, 9, 3, 4)}${seg(...SEGS)} inverted`,
      `${loc(1, 2, 3)}${seg(...SEGS)} three locs`,
      `${loc(1, 2, 3, 4)}${seg(...SEGS)} good`,
    ].join(' ; ');
    expect(parseSegmentations(text, 1024, 1024).map((s) => s.label)).toEqual(['good']);
    expect(parseSegmentations(text, 1024, 1024, { keepEmptyBoxes: true }).map((s) => s.label)).toEqual(['zero height', 'inverted', 'good']);
  });
});
