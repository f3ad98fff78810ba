// PaliGemma task prompts and parsing of detection / segmentation output
// (spec §4.4 and §6.2-6.3).

export type Task = 'caption' | 'describe' | 'cap' | 'ocr' | 'answer' | 'question' | 'detect' | 'segment';

export interface TaskPromptOptions {
  /** Language code for caption/describe/cap/answer/question. Default "en". */
  lang?: string;
  /** The question (answer), the answer (question), or the object(s) to detect/segment. */
  text?: string | readonly string[];
}

/**
 * Build the prefix for a task, e.g. taskPrompt('detect', {text: ['cat', 'dog']})
 * -> "detect cat ; dog". The trailing "\n" is added by the tokenizer's encodePrompt.
 */
export function taskPrompt(task: Task, options: TaskPromptOptions = {}): string {
  const lang = options.lang ?? 'en';
  if (!/^\S+$/.test(lang)) throw new Error(`taskPrompt: bad language code ${JSON.stringify(lang)}`);
  const text = Array.isArray(options.text) ? options.text.map((s) => s.trim()).join(' ; ') : (options.text as string | undefined)?.trim();
  const needText = (what: string): string => {
    if (!text) throw new Error(`taskPrompt: '${task}' needs ${what} in options.text`);
    return text;
  };
  switch (task) {
    case 'caption':
    case 'describe':
    case 'cap':
      return `${task} ${lang}`;
    case 'ocr':
      return 'ocr';
    case 'answer':
      return `answer ${lang} ${needText('a question')}`;
    case 'question':
      return `question ${lang} ${needText('an answer')}`;
    case 'detect':
    case 'segment':
      return `${task} ${needText('the object name(s)')}`;
  }
}

export interface Box {
  /** Left, top, right, bottom in pixels of the original image (not rounded). */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface Detection extends Box {
  label: string;
}

export interface Segmentation {
  label: string;
  box: Box;
  /** The 16 VQ-VAE codebook indices (0..127), row-major over a 4x4 grid. */
  codewords: number[];
}

export interface ParseOptions {
  /**
   * Bins per side. 1024 (default) is what Google's demos use; big_vision's
   * evaluator divides by 1023 (spec §6.2 CONFLICT). The difference is < 0.1 %.
   */
  divisor?: number;
  /**
   * parseSegmentations: keep objects whose box has no area (the demo's extract_objs keeps them
   * with an all-zero mask). Default false.
   */
  keepEmptyBoxes?: boolean;
}

interface RawObject {
  locs: number[];
  segs: number[];
  label: string;
}

/**
 * Objects are "<loc>×4 [<seg>×16] label" separated by " ; ". Each match of this
 * pattern is one candidate: a run of loc tokens, optional seg tokens, then the
 * label (anything but ; < >). Candidates with the wrong token counts are
 * skipped by the callers rather than guessed at.
 */
const OBJECT_RE = /((?:<loc\d{4}>)+)\s*((?:<seg\d{3}>)*)\s*([^;<>]*)/g;

function rawObjects(text: string): RawObject[] {
  const out: RawObject[] = [];
  for (const m of text.matchAll(OBJECT_RE)) {
    out.push({
      locs: [...m[1].matchAll(/<loc(\d{4})>/g)].map((x) => Number(x[1])),
      segs: [...m[2].matchAll(/<seg(\d{3})>/g)].map((x) => Number(x[1])),
      label: m[3].trim(),
    });
  }
  return out;
}

/** loc order is y_min, x_min, y_max, x_max; bins cover the squashed square input, so they map onto width/height directly. */
function toBox(locs: number[], width: number, height: number, divisor: number): Box | null {
  if (locs.length !== 4 || locs.some((v) => v > 1023)) return null;
  const [y0, x0, y1, x1] = locs;
  return { x0: (x0 / divisor) * width, y0: (y0 / divisor) * height, x1: (x1 / divisor) * width, y1: (y1 / divisor) * height };
}

function checkSize(width: number, height: number, divisor: number): void {
  if (!(width > 0 && height > 0)) throw new RangeError(`image size must be positive, got ${width}x${height}`);
  if (!(divisor > 0)) throw new RangeError(`divisor must be positive, got ${divisor}`);
}

/**
 * Parse detection output such as "<loc0051><loc0309><loc0708><loc0646> shoe ; ...".
 * Objects without exactly 4 loc tokens are skipped; seg tokens, if any, are ignored.
 */
export function parseDetections(text: string, imageWidth: number, imageHeight: number, options: ParseOptions = {}): Detection[] {
  const divisor = options.divisor ?? 1024;
  checkSize(imageWidth, imageHeight, divisor);
  const out: Detection[] = [];
  for (const obj of rawObjects(text)) {
    const box = toBox(obj.locs, imageWidth, imageHeight, divisor);
    if (box) out.push({ label: obj.label, ...box });
  }
  return out;
}

/**
 * Parse segmentation output: 4 loc + 16 seg tokens (+ label) per object.
 * Skipped: wrong token counts, out-of-range values, and (unless keepEmptyBoxes) boxes without
 * positive width and height (big_vision's validity rule; a mask cannot be pasted there).
 */
export function parseSegmentations(text: string, imageWidth: number, imageHeight: number, options: ParseOptions = {}): Segmentation[] {
  const divisor = options.divisor ?? 1024;
  checkSize(imageWidth, imageHeight, divisor);
  const out: Segmentation[] = [];
  for (const obj of rawObjects(text)) {
    const box = toBox(obj.locs, imageWidth, imageHeight, divisor);
    if (!box || obj.segs.length !== 16 || obj.segs.some((v) => v > 127)) continue;
    if (!options.keepEmptyBoxes && !(box.y1 > box.y0 && box.x1 > box.x0)) continue;
    out.push({ label: obj.label, box, codewords: obj.segs });
  }
  return out;
}
