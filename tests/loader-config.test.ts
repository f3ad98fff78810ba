import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/loader/config.js';
import { CheckpointError } from '../src/loader/errors.js';
import { parseGenerationConfig, parsePreprocessorConfig } from '../src/loader/extra-config.js';
import { presetConfig } from '../src/loader/make-checkpoint.js';
import { fixtureDir } from './loader-helpers.js';

const fixtureText = (name: string, file: string) => readFileSync(join(fixtureDir(name), file), 'utf8');

function expectError(fn: () => unknown, file: string, phrase: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as CheckpointError).file).toBe(file);
    expect((e as CheckpointError).problem).toContain(phrase);
    return;
  }
  throw new Error(`expected a CheckpointError containing "${phrase}"`);
}

const base = () => JSON.parse(fixtureText('pg-tiny-v2048-224-sharded', 'config.json')) as Record<string, any>;
const cfg = (o: unknown) => () => parseConfig(JSON.stringify(o));

describe('config.json', () => {
  it('reads a fixture config, with defaults for the omitted fields', () => {
    const c = parseConfig(fixtureText('pg-tiny-v2048-224-sharded', 'config.json'));
    expect(c.text).toEqual({
      hiddenSize: 48, intermediateSize: 96, numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 12, vocabSize: 2048,
      rmsNormEps: 1e-6, ropeTheta: 10000, act: 'gelu_tanh', maxPositionEmbeddings: 8192,
      modelType: 'gemma', queryPreAttnScalar: 12, attnLogitSoftcap: 0, finalLogitSoftcap: 0, layerWindows: [0, 0, 0],
    });
    expect(c.vision).toEqual({
      hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 2, headDim: 16, patchSize: 14, imageSize: 224,
      numPatches: 256, layerNormEps: 1e-6, act: 'gelu_tanh',
    });
    expect(c).toMatchObject({ projectionDim: 48, imageTokenId: 2047, bosId: 2, eosId: 1, padId: 0, numImageTokens: 256 });
  });

  it('gives PaliGemma-3B values for a real-style config that omits defaulted fields', () => {
    const c = parseConfig(JSON.stringify(presetConfig('pt-448')));
    expect(c.text).toMatchObject({ hiddenSize: 2048, numLayers: 18, numHeads: 8, numKvHeads: 1, headDim: 256, intermediateSize: 16384, vocabSize: 257216 });
    expect(c.vision).toMatchObject({ hiddenSize: 1152, numLayers: 27, numHeads: 16, headDim: 72, intermediateSize: 4304, imageSize: 448, numPatches: 1024 });
    expect(c.imageTokenId).toBe(257152);
    // A bare config (only model_type) falls back to the same 3B shapes.
    const bare = parseConfig('{"model_type": "paligemma"}');
    expect(bare.text.vocabSize).toBe(257216);
    expect(bare.vision.intermediateSize).toBe(4304);
    expect(bare.numImageTokens).toBe(256);
  });

  it('accepts image_token_id as an alias and takes vocab from the top level when text_config lacks it', () => {
    const o = base();
    delete o.image_token_index;
    o.image_token_id = 5;
    delete o.text_config.vocab_size;
    o.vocab_size = 3000;
    const c = parseConfig(JSON.stringify(o));
    expect(c.imageTokenId).toBe(5);
    expect(c.text.vocabSize).toBe(3000);
  });

  it('reads PaliGemma 2 (text_config.model_type gemma2): scale, soft-caps, window on even layers, eos list', () => {
    const c = parseConfig(fixtureText('pg2-tiny-fullvocab-224', 'config.json'));
    expect(c.text).toMatchObject({
      modelType: 'gemma2', hiddenSize: 32, numHeads: 4, numKvHeads: 2, headDim: 16, queryPreAttnScalar: 16,
      attnLogitSoftcap: 50, finalLogitSoftcap: 30, layerWindows: [260, 0, 260],
    });
    expect(c.eosIds).toEqual([1]);
    // Real configs leave Gemma2Config's defaults out: the 2B decoder of PaliGemma 2 3B.
    const bare = parseConfig('{"model_type": "paligemma", "text_config": {"model_type": "gemma2"}, "eos_token_id": [1, 107]}');
    expect(bare.text).toMatchObject({ hiddenSize: 2304, intermediateSize: 9216, numLayers: 26, numHeads: 8, numKvHeads: 4, headDim: 256, queryPreAttnScalar: 256, attnLogitSoftcap: 50, finalLogitSoftcap: 30 });
    expect(bare.text.layerWindows.slice(0, 4)).toEqual([4096, 0, 4096, 0]);
    expect(bare).toMatchObject({ eosId: 1, eosIds: [1, 107] });
  });

  it('PaliGemma 2 options: null / 0 soft-caps are none, layer_types and a null window override the even-layer rule', () => {
    const o = JSON.parse(fixtureText('pg2-tiny-fullvocab-224', 'config.json')) as Record<string, any>;
    o.text_config.final_logit_softcapping = null;
    o.text_config.attn_logit_softcapping = 0;
    o.text_config.layer_types = ['full_attention', 'sliding_attention', 'full_attention'];
    expect(parseConfig(JSON.stringify(o)).text).toMatchObject({ attnLogitSoftcap: 0, finalLogitSoftcap: 0, layerWindows: [0, 260, 0] });
    o.text_config.sliding_window = null;
    expect(parseConfig(JSON.stringify(o)).text.layerWindows).toEqual([0, 0, 0]);
    o.text_config.layer_types = ['full_attention'];
    o.text_config.sliding_window = 8;
    expectError(cfg(o), 'config.json', 'layer_types must be a list of 3 entries');
    o.text_config.layer_types = ['full_attention', 'local', 'full_attention'];
    expectError(cfg(o), 'config.json', 'layer_types[1] "local"');
    delete o.text_config.layer_types;
    o.text_config.attn_logit_softcapping = -1;
    expectError(cfg(o), 'config.json', 'attn_logit_softcapping must be a positive number');
    o.text_config.attn_logit_softcapping = 50;
    o.eos_token_id = [];
    expectError(cfg(o), 'config.json', 'eos_token_id is an empty list');
  });

  it('rejects Gemma 3 and other model types clearly', () => {
    const o = base();
    o.text_config.model_type = 'gemma3';
    expectError(cfg(o), 'config.json', 'Gemma 3 decoders are not supported');
    o.text_config.model_type = 'llama';
    expectError(cfg(o), 'config.json', 'text_config.model_type "llama" is not supported');
    expectError(cfg({ model_type: 'llava' }), 'config.json', 'model_type "llava" is not supported');
  });

  it('validates numbers and divisibility', () => {
    let o = base();
    o.text_config.num_key_value_heads = 3;
    expectError(cfg(o), 'config.json', 'num_attention_heads 4 is not a multiple of num_key_value_heads 3');
    o = base();
    o.vision_config.image_size = 225;
    expectError(cfg(o), 'config.json', 'image_size 225 is not a multiple of patch_size 14');
    o = base();
    o.text_config.hidden_size = -4;
    expectError(cfg(o), 'config.json', 'text_config.hidden_size must be an integer >= 1, got -4');
    o = base();
    o.text_config.num_hidden_layers = '3';
    expectError(cfg(o), 'config.json', 'text_config.num_hidden_layers must be an integer');
    o = base();
    o.text_config.num_hidden_layers = 1e9;
    expectError(cfg(o), 'config.json', 'text_config.num_hidden_layers 1000000000 is implausibly large');
    o = base();
    o.text_config.rms_norm_eps = 0;
    expectError(cfg(o), 'config.json', 'text_config.rms_norm_eps must be a positive number');
    o = base();
    o.vision_config.num_attention_heads = 3;
    expectError(cfg(o), 'config.json', 'not divisible by num_attention_heads 3');
    o = base();
    o.image_token_index = 2048;
    expectError(cfg(o), 'config.json', 'outside the vocabulary');
    o = base();
    o.projection_dim = 32;
    expectError(cfg(o), 'config.json', 'projection_dim 32 must equal text_config.hidden_size 48');
    o = base();
    o.text_config.num_image_tokens = 100;
    expectError(cfg(o), 'config.json', 'num_image_tokens 100 does not match');
    o = base();
    o.text_config.hidden_activation = 'relu';
    expectError(cfg(o), 'config.json', 'hidden_activation "relu" is not supported');
  });

  it('rejects text that is not a JSON object', () => {
    expectError(() => parseConfig('{"model_type": '), 'config.json', 'not valid JSON');
    expectError(() => parseConfig('[]'), 'config.json', 'must be a JSON object');
  });
});

describe('preprocessor_config.json and generation_config.json', () => {
  it('reads the fixture files', () => {
    const p = parsePreprocessorConfig(fixtureText('pg-tiny-fullvocab-224', 'preprocessor_config.json'));
    expect(p).toEqual({
      width: 224, height: 224, resample: 3, doResize: true, doRescale: true, rescaleFactor: 1 / 255, doNormalize: true,
      mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], imageSeqLength: 256,
    });
    const g = parseGenerationConfig(fixtureText('pg-tiny-fullvocab-224', 'generation_config.json'));
    expect(g).toMatchObject({ eosIds: [1], bosId: 2, padId: 0, maxNewTokens: null, doSample: false });
    expect(parseGenerationConfig('{"eos_token_id": [1, 107], "max_new_tokens": 20}')).toMatchObject({ eosIds: [1, 107], maxNewTokens: 20 });
  });

  it('rejects invalid values', () => {
    expectError(() => parsePreprocessorConfig('{"image_std": [0.5, 0, 0.5]}'), 'preprocessor_config.json', 'image_std must be a list of 3 positive numbers');
    expectError(() => parsePreprocessorConfig('{"size": {"height": 0, "width": 224}}'), 'preprocessor_config.json', 'size.height must be an integer >= 1');
    expectError(() => parsePreprocessorConfig('{"do_resize": "yes"}'), 'preprocessor_config.json', 'do_resize must be true or false');
    expectError(() => parseGenerationConfig('{"eos_token_id": [1, -2]}'), 'generation_config.json', 'eos_token_id[1] must be an integer >= 0');
    expectError(() => parseGenerationConfig('{"max_new_tokens": 0}'), 'generation_config.json', 'max_new_tokens must be an integer >= 1');
  });
});
