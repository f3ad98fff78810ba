// PaliGemma tokenizer on top of tokenizers.js (@huggingface/tokenizers): pure
// JS, same code in Node and the browser. Built from tokenizer.json text.
import { Tokenizer } from '@huggingface/tokenizers';
import {
  addPaligemmaTokens,
  BOS_ID,
  EOS_ID,
  IMAGE_TOKEN_ID,
  PAD_ID,
  type TokenizerJson,
} from './paligemma-tokens.js';

export interface DecodeOptions {
  /** Drop special tokens (<bos>, <eos>, <pad>, <unk>, <image>); <loc>/<seg> stay. Default true, as HF's processor.decode. */
  skipSpecial?: boolean;
}

export class PaliGemmaTokenizer {
  readonly bosId = BOS_ID;
  readonly eosId = EOS_ID;
  readonly padId = PAD_ID;
  readonly imageTokenId = IMAGE_TOKEN_ID;
  /** Where the tokenizer.json came from (for logs). */
  readonly source: string;
  private readonly tokenizer: Tokenizer;

  /**
   * @param tokenizerJson tokenizer.json text, or an already parsed object (which
   *   is then modified and kept: parsing the 17 MB Gemma file twice costs seconds).
   *   loc/seg/image tokens are added if missing.
   */
  constructor(tokenizerJson: string | TokenizerJson, source = 'tokenizer.json') {
    const parsed = typeof tokenizerJson === 'string' ? parseJson(tokenizerJson, source) : tokenizerJson;
    const json = addPaligemmaTokens(parsed);
    const model = json.model as { vocab?: unknown; merges?: unknown };
    // tokenizers.js 0.2's BPE keys its merge ranks by JSON.stringify([left, right]), made by splitting
    // and stringifying every merge in its constructor: for Gemma's 580k merges 0.55 s of each start
    // and as much again in garbage collection. Merges given as "left right" strings skip that: the
    // model is built without them and looks their ranks up by the strings themselves.
    const ranks = mergeRanks(model.merges);
    if (ranks) model.merges = [];
    // Gemma's tokenizer_config.json: no clean-up of spaces around punctuation on decode.
    this.tokenizer = new Tokenizer(json, { clean_up_tokenization_spaces: false });
    const bpe = (this.tokenizer as unknown as { model: { merges?: unknown; bpe_ranks?: unknown } }).model;
    if (ranks && !(bpe.bpe_ranks instanceof Map)) throw new Error('@huggingface/tokenizers: its BPE model has no bpe_ranks map (the pinned 0.2.0 has): update mergeRanks');
    if (ranks) bpe.bpe_ranks = ranks;
    // It builds its maps from the JSON's vocab and merges and never reads them again, yet keeps them
    // (and the merges split into pairs): for Gemma's 257k pieces that is 90 of the 174 MiB the
    // tokenizer held. Drop them.
    model.vocab = undefined;
    model.merges = undefined;
    bpe.merges = undefined;
    this.source = source;
  }

  /** Token ids of `text` alone: no <bos>, special tokens in the text are matched. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * Text part of the model input: <bos> + tokens(prompt + "\n"). HF 4.57's
   * processor tokenises the string `<image>×N + <bos> + prompt + "\n"` in one go
   * with add_bos off; <image> and <bos> are special tokens, so the text is split
   * at them and this is the same sequence minus the image tokens (the graph
   * prepends those). Tokenising "\n" together with the prompt (not separately as
   * big_vision and HF 4.41 did) only differs when the prompt itself ends in
   * whitespace that merges with the newline.
   */
  encodePrompt(prompt: string): number[] {
    return [BOS_ID, ...this.encode(`${prompt}\n`)];
  }

  /** Ids to text like HF's tokenizer.decode (no space clean-up). Unknown ids are dropped, as the Rust tokenizer does. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const known = ids.filter((id) => this.tokenizer.id_to_token(id) !== undefined);
    if (known.length === 0) return '';
    return this.tokenizer.decode(known, {
      skip_special_tokens: options.skipSpecial ?? true,
      clean_up_tokenization_spaces: false,
    });
  }

  /** The vocabulary piece of one id (e.g. "▁cat", "<0xE2>", "<loc0100>"), or undefined. */
  tokenToString(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /** Id of a vocabulary piece, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /**
   * Incremental decoding for streaming: push generated ids one by one and get
   * the newly completed text. Text is held back while it ends in an incomplete
   * UTF-8 sequence (byte-fallback tokens), so multi-byte characters arrive whole.
   */
  createStreamDecoder(options: DecodeOptions = {}): { push(id: number): string; flush(): string } {
    const ids: number[] = [];
    let emitted = 0;
    const next = (final: boolean) => {
      const text = this.decode(ids, options);
      if (!final && text.endsWith('\uFFFD')) return '';
      const delta = text.slice(emitted);
      emitted = text.length;
      return delta;
    };
    return {
      push: (id: number) => {
        ids.push(id);
        return next(false);
      },
      flush: () => next(true),
    };
  }
}

/**
 * The ranks of BPE merges given as "left right" strings, answering tokenizers.js's lookups by
 * JSON.stringify([left, right]) — the pair its own split(' ', 2) of the string gives, and the last
 * rank of a pair listed twice, as its Map built from them. undefined for other forms (pairs as arrays,
 * which may hold spaces): tokenizers.js builds those itself.
 */
function mergeRanks(merges: unknown): { get(pair: string): number | undefined } | undefined {
  if (!Array.isArray(merges) || !merges.every((m) => typeof m === 'string')) return undefined;
  const ranks = new Map<string, number>();
  merges.forEach((m: string, i) => {
    const space = m.indexOf(' ');
    ranks.set(space === m.lastIndexOf(' ') ? m : m.split(' ', 2).join(' '), i);
  });
  return {
    get: (pair) => {
      const [left, right] = JSON.parse(pair) as [string, string];
      return ranks.get(`${left} ${right}`);
    },
  };
}

function parseJson(text: string, source: string): TokenizerJson {
  try {
    return JSON.parse(text) as TokenizerJson;
  } catch (e) {
    throw new Error(`${source}: not a tokenizer.json (${(e as Error).message})`);
  }
}
