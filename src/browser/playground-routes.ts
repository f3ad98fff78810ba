// URLs the playground server offers and the page asks for (browser-safe: shared by both sides).

/** Model files are served under this prefix (read-only, Range requests). */
export const MODEL_PREFIX = '/model/';
/** JSON `{ name, files: [{ path, size }] }` describing the served model folder. */
export const MODEL_INFO_PATH = '/api/model';
/** The real Gemma tokenizer.json + PaliGemma's tokens, for model folders without a tokenizer.json. */
export const FALLBACK_TOKENIZER_PATH = '/tokenizer/gemma-paligemma.json';

/** LoRA adapter folders (--lora) under this prefix and their index: /lora/0/adapter_config.json, … */
export const LORA_PREFIX = '/lora/';
/** JSON `ModelInfo[]`: the served adapter folders, in --lora order. */
export const LORA_INFO_PATH = '/api/lora';
/** Its response header saying "1" when the server was started with --lora-merge (the page then merges them). */
export const LORA_MERGE_HEADER = 'X-Lora-Merge';

export interface ModelInfo {
  name: string;
  files: { path: string; size: number }[];
}

/** The kernel bench page (dist/bench-page) under this prefix: /bench/ is its index.html. */
export const BENCH_PREFIX = '/bench/';
