// The whole graph against the golden fixtures: tensors from the real Hugging Face code (float32)
// within 1e-5·max|ref|, generated ids identical, and the project's own image preprocessing.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dumpRun } from '../src/graph/dump.js';
import { generate, precompile } from '../src/graph/generate.js';
import { decodeImage } from '../src/image/decode.js';
import { preprocessImage } from '../src/image/preprocess.js';
import { Gemma } from '../src/graph/gemma.js';
import { PaliGemma } from '../src/graph/paligemma.js';
import { isLinearWeight, texturesFor } from '../src/graph/weights.js';
import { weightTexture } from '../src/kernels/weight-texture.js';
import { destroyWeights, residentBytes } from '../src/loader/checkpoint.js';
import { quantizeFor } from '../src/graph/weights.js';
import { loadModel } from '../src/node/load-model.js';
import { loadModelFromSource } from '../src/load-source.js';
import { MemoryFileSource } from '../src/loader/memory-source.js';
import { buildPaligemmaTokenizerObject } from '../src/tokenizer/paligemma-tokenizer-json.js';
import { matmulPlan } from '../src/kernels/matmul.js';
import { loadCheckpointFromDir } from '../src/loader/node.js';
import { requestGpu } from '../src/node/gpu.js';
import { compareGolden, GOLDEN_FLOAT_TENSORS, GOLDEN_ID_TENSORS, normErr, runGolden, type GoldenRun } from '../src/node/golden.js';
import { absErrors, testGpu } from './helpers/gpu.js';

const FIXTURES = ['pg-tiny-fullvocab-224', 'pg2-tiny-fullvocab-224', 'pg-tiny-v2048-224-newnames', 'pg-tiny-v2048-224-sharded', 'pg-tiny-v2048-224-int8', 'pg-tiny-v2048-224-int4'];

const ids = (a: ArrayLike<bigint>) => Array.from(a, Number);

for (const name of FIXTURES) {
  describe(name, () => {
    const dir = join(__dirname, 'fixtures', name);
    let run: GoldenRun;

    beforeAll(async () => {
      run = await runGolden(await testGpu(), dir);
    });

    it.each(GOLDEN_FLOAT_TENSORS)('%s within 1e-5·max|ref| of Hugging Face', (tensor) => {
      const ref = run.expected.get(tensor)!;
      const cand = run.got.get(tensor)!;
      expect(cand.shape).toEqual(ref.shape);
      const err = normErr(cand.data as Float32Array, ref.data as Float32Array);
      console.log(`${name} ${tensor}: max|err|/max|ref| = ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-5);
    });

    it.each(GOLDEN_ID_TENSORS)('%s identical to Hugging Face', (tensor) => {
      expect(ids(run.got.get(tensor)!.data as BigInt64Array)).toEqual(ids(run.expected.get(tensor)!.data as BigInt64Array));
    });

    it('compareGolden (selfcheck --fixture) passes it, and fails a perturbed run', () => {
      expect(compareGolden(run).ok).toBe(true);
      const logits = run.got.get('prefill_logits')!.data as Float32Array;
      const saved = logits[7]!;
      logits[7] = saved + 1e-3 * logits.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const bad = compareGolden(run);
      logits[7] = saved;
      expect(bad.ok).toBe(false);
      expect(bad.floats.find((f) => f.name === 'prefill_logits')!.ok).toBe(false);
    });

    it('preprocesses the image like Hugging Face (≤ 4/255 max, ≤ 2e-3 mean abs error)', () => {
      const image = decodeImage(new Uint8Array(readFileSync(join(dir, run.meta.image.path))), run.meta.image.path);
      const size = run.model.config.vision.imageSize;
      const pixels = preprocessImage(image.rgb, image.width, image.height, size);
      const { max, mean } = absErrors(pixels, run.expected.get('pixel_values')!.data as Float32Array);
      console.log(`${name} pixel_values: max ${max.toExponential(2)}, mean ${mean.toExponential(2)}`);
      expect(max).toBeLessThanOrEqual(4 / 255);
      expect(mean).toBeLessThanOrEqual(2e-3);
    });
  });
}

describe('Linear weights in textures (CPU adapters)', () => {
  it('isLinearWeight names exactly the weights the graph packs', async () => {
    const gpu = await testGpu();
    const model = new PaliGemma(gpu, await loadCheckpointFromDir(join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded', 'checkpoint'), gpu.device));
    const plan = model.layout([{ pixels: new Float32Array(3 * 224 * 224), textIds: [2] }], 1);
    const gemma = new Gemma(gpu, model.config.text, model.checkpoint.weights, plan.length, plan.length + 1, 1);
    const graph = [...model.vision.linearWeights(), ...model.projector.linearWeights(), ...gemma.linearWeights()].map((w) => w.name).sort();
    // Named once per weight: the tied LM head is the embedding under a second name.
    const named = [...new Set([...model.checkpoint.weights].filter(([k]) => isLinearWeight(k)).map(([, w]) => w.name))].sort();
    expect(named).toEqual(graph);
    gemma.destroy();
  });

  it('the loader writes them straight into textures where the plan packs them, with the same results', async () => {
    const gpu = await testGpu();
    const dir = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded');
    const ck = await loadCheckpointFromDir(join(dir, 'checkpoint'), gpu.device, { textures: (t) => isLinearWeight(t.name) });
    const q = ck.weights.get('language_model.model.layers.0.self_attn.q_proj.weight')!;
    expect(weightTexture(q)).toBeDefined();
    expect(q.shards).toEqual([]);
    expect(weightTexture(ck.weights.get('language_model.model.embed_tokens.weight')!)).toBeDefined();
    destroyWeights(ck.weights);
    // The fixture tests above load this way on CPU adapters; here the other way round.
    const viaBuffers = compareGolden(await runGolden(gpu, dir, { textures: false }));
    expect(viaBuffers.ok).toBe(true);
  });
});

describe('quantized weights (--quantize, expected.json cli_extra)', () => {
  // One format: the buffer kernels compile for a minute on lavapipe (int8 is covered kernel by kernel in matmul-quantized).
  it('int4 in buffers (the GPU layout: gemv, tiled, embed) too', async () => {
    const check = compareGolden(await runGolden(await testGpu(), join(__dirname, 'fixtures', 'pg-tiny-v2048-224-int4'), { textures: false }));
    expect(check.floats.map((f) => [f.name, f.ok])).toEqual(check.floats.map((f) => [f.name, true]));
    expect(check.ok).toBe(true);
  });

  it('only the codes and scales stay resident: int8 and int4 Linear weights, the patch embedding and norms bf16', async () => {
    const gpu = await testGpu();
    const dir = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-int4', 'checkpoint');
    const ck = await loadCheckpointFromDir(dir, gpu.device, { quantize: quantizeFor('int4'), textures: texturesFor(gpu) });
    const formats = new Map([...ck.weights].map(([k, w]) => [k, w.dtype]));
    expect(formats.get('language_model.model.embed_tokens.weight')).toBe('int4');
    expect(formats.get('language_model.lm_head.weight')).toBe('int4');
    expect(formats.get('vision_tower.vision_model.encoder.layers.1.mlp.fc2.weight')).toBe('int4');
    expect(formats.get('vision_tower.vision_model.embeddings.patch_embedding.weight')).toBe('bf16');
    expect(formats.get('language_model.model.norm.weight')).toBe('bf16');
    const q = residentBytes(ck.weights);
    destroyWeights(ck.weights);
    const bf = await loadCheckpointFromDir(dir, gpu.device, { textures: texturesFor(gpu) });
    const b = residentBytes(bf.weights);
    destroyWeights(bf.weights);
    console.log(`tiny int4 checkpoint: ${q} resident bytes vs ${b} bf16`);
    expect(q).toBeLessThan(0.6 * b);
  });
});

describe('pipelines', () => {
  // Created as they are recorded (on a GPU: asynchronously, on Dawn's workers) or at once (CPU adapters).
  it.each([false, true])('are all built and compiled before a request submits anything, and each one runs (async creation %s)', async (asyncCreate) => {
    // A Gpu of its own: an empty pipeline cache, as in a fresh process.
    const gpu = await requestGpu();
    gpu.asyncCreate = asyncCreate;
    const model = new PaliGemma(gpu, await loadCheckpointFromDir(join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded', 'checkpoint'), gpu.device));
    const created: string[] = [];
    const late: string[] = [];
    const dispatched = new Set<string>();
    let compiles = 0;
    // From a request's compile to its end, no pipeline may be made.
    let compiled = false;
    // Made either way: both counted.
    const create = gpu.device.createComputePipeline.bind(gpu.device);
    const createAsync = gpu.device.createComputePipelineAsync.bind(gpu.device);
    const made = (d: GPUComputePipelineDescriptor) => (compiled ? late : created).push(d.label ?? '');
    gpu.device.createComputePipeline = (d) => (made(d), create(d));
    gpu.device.createComputePipelineAsync = (d) => (made(d), createAsync(d));
    // Weight packing (prepareWeights, once per model) runs and compiles its kernel before.
    let coldBefore = 0;
    const compile = gpu.compile.bind(gpu);
    gpu.compile = (recordings) => {
      if (compiles++ === 0) coldBefore = gpu.compiledOnDispatch;
      compiled = true;
      return compile(recordings);
    };
    const note = gpu.noteDispatch.bind(gpu);
    gpu.noteDispatch = (k) => {
      dispatched.add(k.def.name);
      note(k);
    };
    const input = { pixels: new Float32Array(3 * 224 * 224).fill(0.5), textIds: [2, 100, 108] };
    const g = generate(model, [input], { maxNewTokens: 3, stopIds: [] });
    await g.run();
    expect(g.timings.compiledPipelines).toBeGreaterThan(0);
    // Sampling with a repetition penalty on the same plan: only the sampler's kernels are new.
    const sampled = generate(model, [input], { maxNewTokens: 2, stopIds: [], temperature: 0.7, topK: 5, repetitionPenalty: 1.3, seed: 1 });
    compiled = false;
    await sampled.run();
    expect(sampled.timings.compiledPipelines).toBeGreaterThan(0);
    expect(late).toEqual([]);
    // Compiled by Gpu.compile, none at its first dispatch (lavapipe would compile it mid-step).
    expect(gpu.compiledOnDispatch).toBe(coldBefore);
    expect(gpu.compiled.pipelines).toBe(created.length - coldBefore);
    // Nothing built that the requests do not run.
    expect(created.filter((n) => !dispatched.has(n))).toEqual([]);
    model.destroy();
    gpu.destroy();
  });

  // loadModel's precompile starts as soon as the weights are allocated (loadCheckpoint's beforeStream,
  // Gpu.compileAhead): created on Dawn's workers, on a CPU adapter compiled on its helpers. asyncCreate
  // then decides how the pipelines of the precompile after the load are made, if any are left.
  it.each([false, true])('are compiled while the weights stream; the request then compiles nothing and matches Hugging Face (async creation %s)', async (asyncCreate) => {
    const gpu = await requestGpu();
    gpu.asyncCreate = asyncCreate;
    const dir = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224');
    const ref = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { generated_ids: number[] };
    const made = () => [gpu, ...gpu.helpers].reduce((n, g) => n + g.pipelineTimes().length, 0);
    let madeWhileStreaming = 0;
    const loaded = await loadModel(join(dir, 'checkpoint'), {
      gpu,
      precompile: { images: [1], generate: { maxNewTokens: 3 } },
      onProgress: (p) => void (p.bytesDone === p.bytesTotal && (madeWhileStreaming = made())),
    });
    expect(madeWhileStreaming).toBeGreaterThan(0);
    const n = loaded.compiled!.pipelines;
    expect(n).toBeGreaterThan(0);
    // Counted where something compiled them ahead: a CPU adapter's helpers, a GPU's creation.
    expect(loaded.compiledAhead?.pipelines ?? 0).toBe(gpu.cpuAdapter && !gpu.helpers.length ? 0 : n);
    for (const h of gpu.helpers) expect(h.compiled.pipelines).toBeGreaterThanOrEqual(n);
    const [compiled, onDispatch] = [gpu.compiled.pipelines, gpu.compiledOnDispatch];
    const image = decodeImage(readFileSync(join(dir, 'shapes_300x200.png')), 'shapes_300x200.png');
    const [result] = await loaded.pipeline.run([{ image, prompt: 'caption en' }], { maxNewTokens: 3 });
    expect(result!.ids).toEqual(ref.generated_ids.slice(0, 3));
    expect([gpu.compiled.pipelines, gpu.compiledOnDispatch]).toEqual([compiled, onDispatch]);
    loaded.pipeline.model.destroy();
    destroyWeights(loaded.pipeline.model.checkpoint.weights, gpu.device);
    gpu.destroy();
    gpu.device.destroy();
  });

  it('are compiled while the weights stream from any FileSource (loadModelFromSource), written straight into their layout', async () => {
    const gpu = await requestGpu();
    const dir = join(__dirname, 'fixtures', 'pg-tiny-fullvocab-224');
    const files = new Map(readdirSync(join(dir, 'checkpoint')).map((f) => [f, new Uint8Array(readFileSync(join(dir, 'checkpoint', f)))] as const));
    const loaded = await loadModelFromSource(gpu, new MemoryFileSource('memory:fixture', files), {
      tokenizer: buildPaligemmaTokenizerObject(),
      precompile: { images: [1], generate: { maxNewTokens: 3 } },
    });
    const n = loaded.compiled!.pipelines;
    expect(n).toBeGreaterThan(0);
    expect(loaded.compiledAhead?.pipelines ?? 0).toBe(gpu.cpuAdapter && !gpu.helpers.length ? 0 : n);
    const model = loaded.pipeline.model;
    for (const [name, w] of model.checkpoint.weights) if (isLinearWeight(name)) expect(!!weightTexture(w), name).toBe(matmulPlan(gpu).layout === 'texture');
    const [compiled, onDispatch] = [gpu.compiled.pipelines, gpu.compiledOnDispatch];
    const image = decodeImage(readFileSync(join(dir, 'shapes_300x200.png')), 'shapes_300x200.png');
    const [result] = await loaded.pipeline.run([{ image, prompt: 'caption en' }], { maxNewTokens: 3 });
    const ref = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { generated_ids: number[] };
    expect(result!.ids).toEqual(ref.generated_ids.slice(0, 3));
    expect([gpu.compiled.pipelines, gpu.compiledOnDispatch]).toEqual([compiled, onDispatch]);
    model.destroy();
    destroyWeights(model.checkpoint.weights, gpu.device);
    gpu.destroy();
    gpu.device.destroy();
  });

  it('compiling ahead, a load that fails while the weights stream fails with its own error and leaves the device working', async () => {
    const gpu = await requestGpu();
    const dir = join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded', 'checkpoint');
    const failing = loadModel(dir, { gpu, precompile: { images: [1] }, onProgress: () => {
      throw new Error('stopped by the test');
    } });
    await expect(failing).rejects.toThrow('stopped by the test');
    const { pipeline, compiledAhead } = await loadModel(dir, { gpu, precompile: { images: [1] } });
    expect(compiledAhead?.pipelines ?? 0).toBe(gpu.cpuAdapter && !gpu.helpers.length ? 0 : gpu.compiled.pipelines);
    const g = generate(pipeline.model, [{ pixels: new Float32Array(3 * 224 * 224).fill(0.5), textIds: [2, 108] }], { maxNewTokens: 2, stopIds: [] });
    expect((await g.run())[0]).toHaveLength(2);
    expect(g.timings.compiledPipelines).toBe(0);
    pipeline.model.destroy();
    destroyWeights(pipeline.model.checkpoint.weights, gpu.device);
    gpu.destroy();
    gpu.device.destroy();
  });

  it('are not compiled ahead where the weights still have to move into the kernels\' layout, and compile after', async () => {
    const gpu = await requestGpu();
    // Buffers, where a CPU adapter's plan wants textures (loadModel has the loader write textures).
    const model = new PaliGemma(gpu, await loadCheckpointFromDir(join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded', 'checkpoint'), gpu.device));
    const moves = matmulPlan(gpu).layout === 'texture';
    const ahead = await precompile(model, [1], { maxNewTokens: 2 }, { ahead: true });
    if (moves) expect(ahead).toEqual({ pipelines: 0, ms: 0 });
    expect(gpu.compiledOnDispatch).toBe(0);
    const pre = await precompile(model, [1], { maxNewTokens: 2 });
    expect(pre.pipelines).toBeGreaterThan(0);
    const g = generate(model, [{ pixels: new Float32Array(3 * 224 * 224).fill(0.5), textIds: [2, 108] }], { maxNewTokens: 2, stopIds: [] });
    await g.run();
    expect(g.timings.compiledPipelines).toBe(0);
    model.destroy();
    gpu.destroy();
    gpu.device.destroy();
  });

  it('are compiled ahead by precompile for a request of that shape, which then compiles nothing, and each one runs', async () => {
    const gpu = await requestGpu();
    const model = new PaliGemma(gpu, await loadCheckpointFromDir(join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded', 'checkpoint'), gpu.device));
    const created: string[] = [];
    const dispatched = new Set<string>();
    const create = gpu.device.createComputePipeline.bind(gpu.device);
    gpu.device.createComputePipeline = (d) => {
      created.push(d.label ?? '');
      return create(d);
    };
    const note = gpu.noteDispatch.bind(gpu);
    gpu.noteDispatch = (k) => {
      dispatched.add(k.def.name);
      note(k);
    };
    // Two sequences of one image, sampled with a penalty; the request's prompts are longer than precompile's stand-in.
    const opts = { maxNewTokens: 3, stopIds: [], temperature: 0.7, topK: 5, repetitionPenalty: 1.3, seed: 1 };
    const pre = await precompile(model, [1, 1], opts);
    expect(pre.pipelines).toBeGreaterThan(0);
    const made = created.length;
    const pixels = new Float32Array(3 * 224 * 224).fill(0.5);
    const g = generate(model, [{ pixels, textIds: [2, ...Array.from({ length: 20 }, (_, i) => 100 + i)] }, { pixels, textIds: [2, 108] }], opts);
    await g.run();
    expect(g.timings.compiledPipelines).toBe(0);
    expect(created.length).toBe(made);
    expect(created.filter((n) => !dispatched.has(n))).toEqual([]);
    model.destroy();
    gpu.destroy();
  });
});

describe('prefix-LM attention', () => {
  it('is bidirectional over the prefix: a causal-only prefix does not match Hugging Face', async () => {
    const g = await runGolden(await testGpu(), join(__dirname, 'fixtures', 'pg-tiny-v2048-224-sharded'));
    const ref = g.expected.get('final_hidden_states')!.data as Float32Array;
    expect(normErr(g.got.get('final_hidden_states')!.data as Float32Array, ref)).toBeLessThanOrEqual(1e-5);
    g.model.causalPrefix = true;
    const t = await dumpRun(g.model, { pixels: g.expected.get('pixel_values')!.data as Float32Array, textIds: g.meta.text_ids, maxNewTokens: 1 });
    const causal = normErr(t.find((x) => x.name === 'final_hidden_states')!.data as Float32Array, ref);
    console.log(`causal-only prefix: final_hidden_states max|err|/max|ref| = ${causal.toExponential(2)}`);
    expect(causal).toBeGreaterThan(1e-2);
  });
});
