// `paligemma generate`: image + prompt → text (and boxes), streaming on a terminal.

import { adapterSummary } from '../graph/lora.js';
import { decodeImage } from '../image/decode.js';
import { residentBytes } from '../loader/checkpoint.js';
import { demoModelDir } from '../node/demo-model.js';
import { loadModel } from '../node/load-model.js';
import { generateMasks, segmentJson } from '../node/generate-masks.js';
import { mainThreadCpuMs } from '../node/thread-cpu.js';
import { imagesOf, type Request } from '../pipeline.js';
import { checkLoraMerge, given, int, num, parse, quantization, readInput, UsageError } from './args.js';
import { downloadProgress, progressBar, type ProgressBar } from './progress.js';

export const summary = 'run PaliGemma on an image and a prompt';

const USAGE = `usage: paligemma generate [--model DIR|ID] --image FILE [--image FILE ...] --prompt TEXT [--image FILE ... --prompt TEXT ...]
        [--vae FILE] [--masks-out DIR] [--max-new-tokens N] [--json] [--sample] [--temperature T --top-k K --top-p P --repetition-penalty R --seed S] [--adapter NAME]
        [--quantize int8|int4] [--uncapped-logits] [--lora DIR ... [--lora-merge]]

  --model DIR|ID     a PaliGemma folder in the Hugging Face layout, or a Hub model id
                     (google/paligemma-3b-mix-224[@REVISION]: the Hugging Face cache, downloading
                     what is missing; HF_TOKEN for gated repos; docs/hub.md) (default: the demo
                     checkpoint, random weights, generated on first use)
  --image, --prompt  every --image before a --prompt belongs to that prompt: --image a --image b
                     --prompt "caption en" is one sequence with two images (in that order);
                     several prompts run as one left-padded batch of sequences
  --vae FILE         the mask decoder (vae-oid.npz) for segment prompts (default: vae-oid.npz in the
                     model folder, then in the cache folder; without one, masks are left out)
  --masks-out DIR    segment prompts: one PNG per mask and overlay.png (masks and boxes on the image)
  --sample           sample instead of greedy (also on with --temperature > 0 or the checkpoint's
                     do_sample); unset settings come from generation_config.json, then Hugging
                     Face's defaults (temperature 1, top-k 50, top-p 1, repetition penalty 1)
  --json             print one JSON object: ids, text, boxes, timings, resident weight bytes
  --quantize Q       quantize the Linear weights at load to int8 (per row) or int4 (groups of 32)
  --lora DIR         apply a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors);
                     repeat it to add several up; works on bf16 and --quantize bases
  --lora-merge       fold the adapters into float32 copies of the weights they touch: faster
                     matmuls for 4 bytes per element of those weights (docs/lora.md)
  --uncapped-logits  PaliGemma 2: logits without final_logit_softcapping, as transformers >= 4.52
                     and big_vision's transfers (default: capped, as transformers 4.45; greedy
                     ids are the same either way, sampling is not; docs/paligemma2.md)`;

/** The sequences of the command line: every --image since the previous --prompt belongs to the next --prompt. */
export function groupImages(tokens: { kind: string; name?: string; value?: string }[]): { images: string[]; prompt: string }[] {
  const groups: { images: string[]; prompt: string }[] = [];
  let images: string[] = [];
  for (const t of tokens) {
    if (t.kind !== 'option' || t.value === undefined) continue;
    if (t.name === 'image') images.push(t.value);
    if (t.name === 'prompt') {
      if (images.length === 0) throw new UsageError(`--prompt '${t.value}' has no --image before it (every --image before a --prompt belongs to that prompt)`);
      groups.push({ images, prompt: t.value });
      images = [];
    }
  }
  if (images.length) throw new UsageError(`--image ${images.join(', ')} after the last --prompt: give the prompt these images are for after them`);
  return groups;
}

export async function run(argv: string[]): Promise<number> {
  const { values: o, tokens } = parse(
    argv,
    {
      model: { type: 'string' },
      image: { type: 'string', multiple: true },
      prompt: { type: 'string', multiple: true },
      'max-new-tokens': { type: 'string' },
      json: { type: 'boolean' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      sample: { type: 'boolean' },
      seed: { type: 'string' },
      tokenizer: { type: 'string' },
      adapter: { type: 'string' },
      vae: { type: 'string' },
      'masks-out': { type: 'string' },
      quantize: { type: 'string' },
      lora: { type: 'string', multiple: true },
      'lora-merge': { type: 'boolean' },
      'uncapped-logits': { type: 'boolean' },
    },
    USAGE,
  );
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (!o.image?.length) throw new UsageError(`--image is required\n\n${USAGE}`);
  if (!o.prompt?.length) throw new UsageError(`--prompt is required\n\n${USAGE}`);
  const groups = groupImages(tokens);
  const opts = {
    maxNewTokens: int(o['max-new-tokens'], 'max-new-tokens', 32, 1),
    doSample: o.sample,
    temperature: given(o.temperature, (v) => num(v, 'temperature', 0)),
    topK: given(o['top-k'], (v) => int(v, 'top-k', 0)),
    topP: given(o['top-p'], (v) => num(v, 'top-p', 1, 0, 1)),
    repetitionPenalty: given(o['repetition-penalty'], (v) => num(v, 'repetition-penalty', 1)),
    seed: int(o.seed, 'seed', 0),
  };
  const quantize = quantization(o.quantize);
  checkLoraMerge(o['lora-merge'], o.lora);
  const requests: Request[] = [];
  for (const g of groups) {
    const images = await Promise.all(g.images.map(async (file) => decodeImage(await readInput(file, 'image'), file)));
    requests.push({ image: images.length === 1 ? images[0]! : images, prompt: g.prompt });
  }

  const model = o.model ?? (await demoModelDir(!o.json));
  const tty = process.stderr.isTTY && !o.json;
  // Made at the first bytes, so its rate does not count a download before them.
  let bar: ProgressBar | undefined;
  const download = o.json ? undefined : downloadProgress();
  const { dir, pipeline, loadSeconds, compiled, compiledAhead } = await loadModel(model, {
    tokenizer: o.tokenizer,
    adapter: o.adapter,
    quantize,
    lora: o.lora,
    loraMerge: o['lora-merge'],
    onProgress: tty ? (p) => (bar ??= progressBar('loading')).update(p.bytesDone, p.bytesTotal, p.tensor) : undefined,
    hub: { onProgress: (p) => download?.onProgress(p) },
    precompile: { images: groups.map((g) => g.images.length), generate: opts },
    uncappedLogits: o['uncapped-logits'],
  }).finally(() => download?.done());
  bar?.done();

  const generation = pipeline.generate(requests, { ...opts, threadCpuMs: mainThreadCpuMs });
  const streaming = process.stdout.isTTY && !o.json && requests.length === 1;
  const decoder = pipeline.tokenizer.createStreamDecoder();
  for await (const t of generation) {
    if (streaming) process.stdout.write(decoder.push(t.id));
  }
  const results = pipeline.results(requests, generation.ids);
  const masks = await generateMasks(pipeline.model.gpu, requests, results, { vae: o.vae, modelDir: dir, masksOut: o['masks-out'] });
  if (masks.note) console.error(masks.note);
  if (masks.files.length && !o.json) console.error(`wrote ${masks.files.length} PNGs (masks and overlay) to ${o['masks-out']}`);
  const tm = generation.timings;
  // Compiled while the weights streamed (where it could), after them beside the tokenizer's parse
  // (the same pipelines, found compiled), and by the request (nothing, when the load guessed right).
  const pipelines = (compiled?.pipelines ?? 0) + tm.compiledPipelines;
  const compileS = ((compiled?.ms ?? 0) + tm.compileMs) / 1000;
  const aheadS = compiledAhead ? compiledAhead.ms / 1000 : null;
  const timings = {
    load_s: loadSeconds,
    pipelines_compiled: pipelines,
    compile_s: compileS,
    compile_ahead_s: aheadS,
    setup_ms: tm.setupMs,
    vision_ms: tm.visionMs,
    prefill_ms: tm.prefillMs,
    first_choice_ms: tm.firstChoiceMs,
    first_token_ms: tm.firstTokenMs,
    decode_tokens_per_s: tm.decodeSteps > 0 ? (tm.decodeSteps * requests.length) / (tm.decodeMs / 1000) : null,
    decode_ms_per_token: tm.decodeSteps > 0 ? tm.decodeMs / tm.decodeSteps : null,
    cpu_ms_per_decode_step: tm.cpuMsPerDecodeStep,
  };
  // The shader compiler's share of a first run (lavapipe: LLVM; warm runs read Mesa's disk cache).
  const ahead = aheadS === null ? '' : `${aheadS.toFixed(1)} s from when the weights were allocated (the load took ${loadSeconds.toFixed(1)} s), `;
  console.error(`compiled ${pipelines} pipelines in ${ahead}${compileS.toFixed(1)} s after the load${compiled?.pipelines ? ' (while the tokenizer loaded)' : ''}`);
  const s = generation.sampling;
  const sampling = { do_sample: s.doSample, temperature: s.temperature, top_k: s.topK, top_p: s.topP, repetition_penalty: s.repetitionPenalty, seed: s.seed };
  if (o.json) {
    const first = (i: number) => imagesOf(requests[i]!.image)[0]!;
    const segments = (i: number) => masks.masks?.[i]!.map((m) => segmentJson(m, first(i).width, first(i).height)) ?? results[i]!.segmentations;
    const out = results.map((r, i) => ({ images: groups[i]!.images, ids: r.ids, text: r.text, boxes: r.detections, segments: segments(i) }));
    const weights = { format: quantize ?? 'bf16', resident_bytes: residentBytes(pipeline.model.checkpoint.weights), host_rss_bytes: process.memoryUsage().rss };
    const adapters = pipeline.adapters.map((a) => adapterSummary(a, pipeline.adaptersMerged));
    console.log(JSON.stringify({ model: dir, ...(out.length === 1 ? out[0] : { results: out }), sampling, weights, adapters, timings }));
    return 0;
  }
  if (streaming) process.stdout.write(decoder.flush() + '\n');
  for (const [i, r] of results.entries()) {
    if (!streaming) console.log(requests.length > 1 ? `[${i}] ${visible(r.text, r.ids)}` : visible(r.text, r.ids));
    else if (r.text.trim() === '') console.log(visible(r.text, r.ids));
    for (const b of r.detections) console.log(`  box ${b.label}: (${b.x0}, ${b.y0}) – (${b.x1}, ${b.y1})`);
    for (const [j, s] of r.segmentations.entries()) {
      const mask = masks.masks?.[i]![j];
      console.log(`  segment ${s.label}: box (${s.box.x0}, ${s.box.y0}) – (${s.box.x1}, ${s.box.y1}), codewords ${s.codewords.join(' ')}${mask ? `, mask ${mask.area} px` : ''}`);
    }
  }
  if (o.model === undefined) console.error('(demo checkpoint: random weights, sampled, so the text is meaningless; pass --model DIR for a real PaliGemma)');
  console.error(
    `load ${loadSeconds.toFixed(2)} s · vision ${tm.visionMs.toFixed(0)} ms · prefill ${tm.prefillMs.toFixed(0)} ms · ` +
      (timings.decode_tokens_per_s ? `decode ${timings.decode_tokens_per_s.toFixed(2)} tokens/s` : 'no decode steps'),
  );
  return 0;
}

/** The text as printed: when it is only whitespace (blank lines on a terminal), escaped and with its ids. */
export function visible(text: string, ids: readonly number[]): string {
  if (text.trim() !== '') return text;
  return `(${text === '' ? 'no text' : `only whitespace: ${JSON.stringify(text)}`}; ids ${ids.length ? ids.join(' ') : 'none'})`;
}
