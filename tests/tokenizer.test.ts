// PaliGemma tokenizer (tokenizers.js) against the fixture ids and against a second,
// independent implementation (@lenml/tokenizers) fed the same tokenizer.json.
import { readFileSync } from 'node:fs';
import { TokenizerLoader } from '@lenml/tokenizers';
import { Tokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { rng } from './helpers/gpu.js';
import { addPaligemmaTokens, locToken, segToken, type TokenizerJson } from '../src/tokenizer/paligemma-tokens.js';
import { buildPaligemmaTokenizerJson, gemmaTokenizerJsonPath } from '../src/tokenizer/paligemma-tokenizer-json.js';
import { PaliGemmaTokenizer } from '../src/tokenizer/tokenizer.js';

const TRICKY = [
  'caption en',
  'answer en What is on the flower?',
  'detect cat ; dog',
  'segment the left person ; car',
  'Ünïcödé àccénts: café naïve résumé Ångström',
  '日本語のテキストと中文文本，还有한국어',
  'emoji 🦄🐈‍⬛👍🏽 and flags 🇫🇷🇯🇵',
  'multiple   spaces    here',
  '   leading and trailing spaces   ',
  'line one\nline two\n\nline four\r\nwindows',
  'tabs\tbetween\t\twords',
  '<loc0100><seg042> inside text',
  'a box <loc0000><loc0001><loc1023><loc0512> cat ; <loc0010><loc0020><loc0030><loc0040> dog',
  '<seg127><seg000><loc0999>',
  'almost <loc100> <loc01000> <seg1000> <seg12> tokens',
  'special-looking <bos> and <eos> and <image> in text',
  'numbers 1234567890 3.14159 -42 1e-6',
  'code: function f(x) { return x ** 2; } // comment',
  'control \u0000\u0001 chars and zero\u200bwidth',
  'ﬁ ligature and Ｆｕｌｌｗｉｄｔｈ',
  '',
  ' ',
  '\n',
  'ends with newline\n',
  'the quick brown fox jumps over the lazy dog '.repeat(200),
  '猫'.repeat(500),
];

let jsonText: string;
let ours: PaliGemmaTokenizer;
let reference: ReturnType<typeof TokenizerLoader.fromPreTrained>;

beforeAll(() => {
  jsonText = buildPaligemmaTokenizerJson();
  const json = jsonText;
  ours = new PaliGemmaTokenizer(json, 'test');
  const config = JSON.parse(readFileSync(gemmaTokenizerJsonPath().replace(/tokenizer\.json$/, 'tokenizer_config.json'), 'utf8'));
  reference = TokenizerLoader.fromPreTrained({ tokenizerJSON: JSON.parse(json), tokenizerConfig: { ...config, add_bos_token: false } });
});

describe('PaliGemma token ids', () => {
  it("'caption en' gives the fixture's text ids", () => {
    const expected = JSON.parse(readFileSync(new URL('./fixtures/pg-tiny-fullvocab-224/expected.json', import.meta.url), 'utf8'));
    expect(expected.prompt).toBe('caption en');
    expect(ours.encodePrompt('caption en')).toEqual([2, 21209, 659, 108]);
    expect(ours.encodePrompt('caption en')).toEqual(expected.text_ids);
  });

  it('empty prompt is <bos> "\\n" as in HF-tests', () => {
    expect(ours.encodePrompt('')).toEqual([2, 108]);
  });

  it('loc and seg tokens are single ids', () => {
    expect(ours.encode('<loc0100>')).toEqual([256100]);
    expect(ours.encode('<seg042>')).toEqual([257066]);
    expect(ours.encode('<loc0000><loc1023><seg000><seg127>')).toEqual([256000, 257023, 257024, 257151]);
    for (let i = 0; i < 1024; i += 97) expect(ours.tokenToId(locToken(i))).toBe(256000 + i);
    for (let i = 0; i < 128; i += 13) expect(ours.tokenToId(segToken(i))).toBe(257024 + i);
  });

  it('<image> is id 257152 and special', () => {
    expect(ours.encode('<image>')).toEqual([257152]);
    expect(ours.decode([257152, 21209])).toBe('caption');
    expect(ours.decode([257152, 21209], { skipSpecial: false })).toBe('<image>caption');
  });
});

describe('agreement with @lenml/tokenizers on the same tokenizer.json', () => {
  it.each(TRICKY.map((s) => [s.length > 60 ? `${s.slice(0, 40)}… (${s.length} chars)` : JSON.stringify(s), s]))('%s', (_, text) => {
    const mine = ours.encode(text);
    expect(mine).toEqual(reference.encode(text, { add_special_tokens: false }));
    expect(ours.encodePrompt(text)).toEqual([2, ...reference.encode(`${text}\n`, { add_special_tokens: false })]);
    if (mine.length > 0) {
      expect(ours.decode(mine, { skipSpecial: false })).toBe(reference.decode(mine, { skip_special_tokens: false }));
      expect(ours.decode(mine)).toBe(reference.decode(mine, { skip_special_tokens: true }));
    }
  });
});

// PaliGemmaTokenizer hands tokenizers.js its merges' ranks by their strings (mergeRanks) instead of
// letting it split and stringify 580k of them: the ids must be those of tokenizers.js built its own way.
describe('merge ranks by string', () => {
  it('give the ids of tokenizers.js built from the merges itself, on random text', () => {
    const own = new Tokenizer(addPaligemmaTokens(JSON.parse(jsonText) as TokenizerJson), { clean_up_tokenization_spaces: false });
    const pieces = Object.keys((JSON.parse(jsonText) as TokenizerJson).model.vocab as Record<string, number>);
    const r = rng(5);
    const pick = <T,>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
    const chars = [...'abcxyzÄéß日本中한🦄 .,;:!?\n\t-0123456789'];
    for (let i = 0; i < 300; i++) {
      const parts = Array.from({ length: 1 + Math.floor(r() * 12) }, () => (r() < 0.6 ? pick(pieces).replaceAll('▁', ' ') : pick(chars).repeat(1 + Math.floor(r() * 3))));
      const text = parts.join(r() < 0.5 ? '' : ' ');
      expect(ours.encode(text), JSON.stringify(text)).toEqual(own.encode(text, { add_special_tokens: false }).ids);
    }
  });
});

describe('decode', () => {
  it.each(TRICKY.filter((s) => !/<(bos|eos|image)>/.test(s)).map((s) => [JSON.stringify(s).slice(0, 50), s]))('round-trips %s', (_, text) => {
    expect(ours.decode(ours.encode(text))).toBe(text);
  });

  it('drops <bos>/<eos>/<pad>/<image> but keeps <loc>/<seg>, like HF skip_special_tokens', () => {
    const ids = [257152, 257152, 2, ...ours.encode('detect cat\n'), 256051, 256309, 256708, 256646, ...ours.encode(' cat'), 1, 0];
    expect(ours.decode(ids)).toBe('detect cat\n<loc0051><loc0309><loc0708><loc0646> cat');
  });

  it('ignores ids outside the vocabulary (the padded embedding rows 257153..257215)', () => {
    expect(ours.decode([21209, 257153, 257215, 659])).toBe('caption en');
    expect(ours.decode([])).toBe('');
  });

  it('tokenToString gives the vocabulary piece', () => {
    expect(ours.tokenToString(659)).toBe('▁en');
    expect(ours.tokenToString(108)).toBe('\n');
    expect(ours.tokenToString(256100)).toBe('<loc0100>');
    expect(ours.tokenToString(257152)).toBe('<image>');
    expect(ours.tokenToString(999999)).toBeUndefined();
  });

  it('stream decoder emits whole characters and concatenates to the full decode', () => {
    const text = 'héllo 世界 🦄! <loc0001> done';
    const ids = ours.encode(text);
    const stream = ours.createStreamDecoder();
    const parts = ids.map((id) => stream.push(id));
    parts.push(stream.flush());
    expect(parts.join('')).toBe(text);
    for (const part of parts) expect(part).not.toContain('\uFFFD');
  });
});

describe('tokenizer.json additions', () => {
  it('adds loc/seg as vocabulary + non-special added tokens and <image> as special', () => {
    const json = JSON.parse(jsonText) as TokenizerJson;
    const vocab = json.model.vocab as Record<string, number>;
    expect(vocab['<loc0000>']).toBe(256000);
    expect(vocab['<seg127>']).toBe(257151);
    expect(vocab['<image>']).toBeUndefined();
    const added = new Map(json.added_tokens.map((t) => [t.content, t]));
    expect(added.get('<loc0512>')).toMatchObject({ id: 256512, special: false });
    expect(added.get('<image>')).toMatchObject({ id: 257152, special: true });
    expect(added.get('<bos>')).toMatchObject({ id: 2, special: true });
  });

  it('is idempotent and refuses a conflicting id', () => {
    const json = JSON.parse(jsonText) as TokenizerJson;
    const count = json.added_tokens.length;
    addPaligemmaTokens(json);
    expect(json.added_tokens.length).toBe(count);
    const bad = json;
    bad.added_tokens.find((t) => t.id === 257152)!.content = '<img>';
    expect(() => addPaligemmaTokens(bad)).toThrow(/257152/);
  });

  it('refuses a vocabulary whose piece at a <loc> id is another one', () => {
    const json = JSON.parse(jsonText) as TokenizerJson;
    const vocab = json.model.vocab as Record<string, number>;
    delete vocab['<loc0007>'];
    vocab['▁elsewhere'] = 256007;
    expect(() => addPaligemmaTokens(json)).toThrow('tokenizer.json: id 256007 is "▁elsewhere", expected "<loc0007>"');
  });
});
