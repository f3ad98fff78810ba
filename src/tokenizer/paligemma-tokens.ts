// PaliGemma's additions to the Gemma vocabulary (spec §4.2), shared by the
// Node-side tokenizer.json builder and the browser-safe tokenizer class.

export const PAD_ID = 0;
export const EOS_ID = 1;
export const BOS_ID = 2;
export const NEWLINE_ID = 108;
export const LOC_BASE_ID = 256000;
export const LOC_COUNT = 1024;
export const SEG_BASE_ID = 257024;
export const SEG_COUNT = 128;
export const IMAGE_TOKEN_ID = 257152;
export const IMAGE_TOKEN = '<image>';

export const locToken = (i: number): string => `<loc${String(i).padStart(4, '0')}>`;
export const segToken = (i: number): string => `<seg${String(i).padStart(3, '0')}>`;

/** The subset of tokenizer.json we touch. */
export interface TokenizerJson {
  added_tokens: AddedTokenJson[];
  model: { vocab: Record<string, number> | [string, number][]; [key: string]: unknown };
  [key: string]: unknown;
}

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

function addedToken(id: number, content: string, special: boolean): AddedTokenJson {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/**
 * Add <locDDDD>, <segDDD> and <image> where the file lacks them, in place.
 * Mirrors HF: loc/seg are regular vocabulary entries (big_vision appended them as
 * user-defined pieces), made matchable as whole tokens in text the way HF's
 * processor does with tokenizer.add_tokens(), i.e. added but not special, so
 * skip_special_tokens keeps them; <image> is an added special token.
 * Throws if an id is already taken by a different token.
 */
export function addPaligemmaTokens(json: TokenizerJson): TokenizerJson {
  if (Array.isArray(json.model.vocab)) throw new Error('tokenizer.json: Unigram vocabularies are not supported (expected Gemma BPE)');
  const vocab = json.model.vocab;
  // The pieces holding PaliGemma's ids, by id: a map of the whole vocabulary (257k pieces) took
  // 0.3 s of every start.
  const idToVocab = new Map<number, string>();
  for (const token in vocab) {
    const id = vocab[token]!;
    if (id >= LOC_BASE_ID && id <= IMAGE_TOKEN_ID) idToVocab.set(id, token);
  }
  const added = new Map(json.added_tokens.map((t) => [t.id, t]));

  const ensure = (id: number, content: string, special: boolean, inVocab: boolean) => {
    const existingVocab = idToVocab.get(id);
    const existingAdded = added.get(id);
    for (const existing of [existingVocab, existingAdded?.content]) {
      if (existing !== undefined && existing !== content) {
        throw new Error(`tokenizer.json: id ${id} is "${existing}", expected "${content}"`);
      }
    }
    if (inVocab && existingVocab === undefined) vocab[content] = id;
    if (existingAdded === undefined) {
      const token = addedToken(id, content, special);
      json.added_tokens.push(token);
      added.set(id, token);
    }
  };
  for (let i = 0; i < LOC_COUNT; i++) ensure(LOC_BASE_ID + i, locToken(i), false, true);
  for (let i = 0; i < SEG_COUNT; i++) ensure(SEG_BASE_ID + i, segToken(i), false, true);
  ensure(IMAGE_TOKEN_ID, IMAGE_TOKEN, true, false);
  json.added_tokens.sort((a, b) => a.id - b.id);
  return json;
}
