// The playground page: load a model (from the playground server or a local folder), pick an image
// (or several, or a video whose frames are sampled) and a task, stream the generated tokens (greedy
// or sampled), draw boxes and masks, show timings, attention maps and a clicked token's candidates.

import { BrowserFileSource } from '../src/browser/file-source.js';
import { HttpFileSource } from '../src/browser/http-source.js';
import { MODEL_INFO_PATH, MODEL_PREFIX, type ModelInfo } from '../src/browser/playground-routes.js';
import type { Gpu } from '../src/device.js';
import type { QueuedGeneration } from '../src/request-queue.js';
import { stepCandidates } from '../src/graph/candidates.js';
import { resolveSampling } from '../src/graph/generate.js';
import { MASK_DECODER_FILE, MaskDecoder } from '../src/graph/mask-decoder.js';
import { residentBytes } from '../src/loader/checkpoint.js';
import type { FileSource } from '../src/loader/source.js';
import { decodeMasks, type ObjectMask } from '../src/masks.js';
import type { Request, Result } from '../src/pipeline.js';
import { parseDetections, parseSegmentations, type Segmentation } from '../src/tasks.js';
import type { Quantization } from '../src/weights.js';
import { fillAttentionControls, imageAttention, type ImageAttention } from './attention.js';
import { describeSampling, fillSampling, readSampling, renderCandidates, type SamplingInputs } from './candidates.js';
import { byId, el, formatBytes } from './dom.js';
import { clearHeatmap, drawHeatmap, weightRange } from './heatmap.js';
import { drawImage, readImage, type PageImage } from './image.js';
import { markShown, renderStrip } from './strip.js';
import { isVideo, sampleVideoFrames } from './video.js';
import { AdapterPanel } from './lora.js';
import { renderText, renderTokens } from './output.js';
import { drawObjects, listObjects, type Objects } from './overlay.js';
import { composePrompt } from './prompt.js';
import { closeSession, explainError, openSession, pageGpu, type Session } from './session.js';
import { renderProfile, renderTimings, summarizeProfile } from './timings.js';

const ui = {
  adapter: byId('adapter'),
  error: byId('error'),
  loadServed: byId<HTMLButtonElement>('load-served'),
  openFolder: byId<HTMLButtonElement>('open-folder'),
  folderInput: byId<HTMLInputElement>('folder-input'),
  profile: byId<HTMLInputElement>('profile'),
  quantize: byId<HTMLSelectElement>('quantize'),
  served: byId('served'),
  progress: byId<HTMLProgressElement>('load-progress'),
  loadStatus: byId('load-status'),
  tokenizerNote: byId('tokenizer-note'),
  pickVae: byId<HTMLButtonElement>('pick-vae'),
  vaeInput: byId<HTMLInputElement>('vae-input'),
  vaeStatus: byId('vae-status'),
  stage: byId('stage'),
  imageCanvas: byId<HTMLCanvasElement>('image-canvas'),
  heatCanvas: byId<HTMLCanvasElement>('heat-canvas'),
  overlayCanvas: byId<HTMLCanvasElement>('overlay-canvas'),
  stageHint: byId('stage-hint'),
  pickImage: byId<HTMLButtonElement>('pick-image'),
  imageInput: byId<HTMLInputElement>('image-input'),
  imageInfo: byId('image-info'),
  frames: byId<HTMLInputElement>('frames'),
  strip: byId('strip'),
  task: byId<HTMLSelectElement>('task'),
  langLabel: byId('lang-label'),
  lang: byId<HTMLInputElement>('lang'),
  textLabel: byId('text-label'),
  taskText: byId<HTMLInputElement>('task-text'),
  prompt: byId<HTMLInputElement>('prompt'),
  maxTokens: byId<HTMLInputElement>('max-tokens'),
  generate: byId<HTMLButtonElement>('generate'),
  stop: byId<HTMLButtonElement>('stop'),
  output: byId('output'),
  genStatus: byId('gen-status'),
  tokens: byId('tokens'),
  objects: byId('objects'),
  timings: byId<HTMLTableElement>('timings'),
  profileBox: byId<HTMLDetailsElement>('profile-box'),
  profileTable: byId<HTMLTableElement>('profile-table'),
  attnLayer: byId<HTMLSelectElement>('attn-layer'),
  attnHead: byId<HTMLSelectElement>('attn-head'),
  attnShow: byId<HTMLInputElement>('attn-show'),
  attnStatus: byId('attn-status'),
  attnPatch: byId('attn-patch'),
  baseBox: byId('base-box'),
  outputBase: byId('output-base'),
  keepLogits: byId<HTMLInputElement>('keep-logits'),
  candStatus: byId('cand-status'),
  candTable: byId<HTMLTableElement>('cand-table'),
};

const samplingUi: SamplingInputs = {
  doSample: byId<HTMLInputElement>('do-sample'),
  temperature: byId<HTMLInputElement>('temperature'),
  topK: byId<HTMLInputElement>('top-k'),
  topP: byId<HTMLInputElement>('top-p'),
  penalty: byId<HTMLInputElement>('rep-penalty'),
  seed: byId<HTMLInputElement>('seed'),
};

const adapters = new AdapterPanel({ list: byId('lora-list'), open: byId('lora-open'), input: byId('lora-input'), compare: byId('lora-compare'), merge: byId('lora-merge') }, (e) => showError(e));

/** What the last generation produced (also read by the end-to-end tests through window.playground). */
export interface RunRecord {
  prompt: string;
  ids: number[];
  /** The text as it was streamed: one entry per token (possibly empty while a character is incomplete). */
  deltas: string[];
  text: string;
  result: Result | undefined;
  stopped: boolean;
  /** Why the generation failed, if it did. */
  error?: unknown;
  /** Each step's logits row ('candidates on click'): step k chose ids[k]. */
  logits: Float32Array[];
  /** The prompt's text ids (<bos> + prompt + "\n"), for the repetition penalty of the candidates. */
  textIds: number[];
}

const state: {
  session?: Session;
  /** The prompt's images, in order (one, several, or a video's frames); boxes and masks are in the first one's pixels. */
  images: PageImage[];
  /** The image on the stage. */
  shown: number;
  /** The video the frames came from (sampled again when the frame count changes). */
  video?: File;
  /** Each strip thumbnail's heatmap canvas. */
  stripHeat: HTMLCanvasElement[];
  /** The attention map drawn now (for the patch under the pointer). */
  attention?: ImageAttention;
  controller?: AbortController;
  loading: boolean;
  run?: RunRecord;
  selectedToken?: number;
  /** The mask decoder file, and the decoder built from it on the current device. */
  vae?: { name: string; bytes: Uint8Array };
  decoder?: { gpu: Gpu; decoder: MaskDecoder };
  /** Masks of the segmentations shown, and those toggled off. */
  masks?: ObjectMask[];
  hiddenMasks: Set<number>;
  /** What the overlay shows now (redrawn when a mask is toggled). */
  objects?: Objects;
} = { loading: false, hiddenMasks: new Set(), images: [], shown: 0, stripHeat: [] };

function showError(e: unknown): void {
  const { title, detail } = explainError(e);
  ui.error.replaceChildren(el('strong', {}, title), el('div', { className: 'detail' }, detail));
  ui.error.hidden = false;
  console.error(e);
}

function clearError(): void {
  ui.error.hidden = true;
  ui.error.replaceChildren();
}

function updateButtons(): void {
  const busy = state.loading || state.controller !== undefined;
  ui.generate.disabled = busy || !state.session || state.images.length === 0;
  ui.stop.disabled = state.controller === undefined;
  ui.loadServed.disabled = busy || ui.loadServed.dataset.available !== 'yes';
  ui.openFolder.disabled = busy;
}

// ---- adapter ----

async function describeGpu(): Promise<void> {
  try {
    const gpu = await pageGpu(ui.profile.checked);
    const info = gpu.adapterInfo;
    const name = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
    const yes = (b: boolean) => (b ? 'yes' : 'no');
    ui.adapter.textContent =
      `${name}${gpu.cpuAdapter ? ' (software: slow)' : ''} · f16 ${yes(gpu.features.f16)} · subgroups ${yes(gpu.features.subgroups)} · ` +
      `timestamps ${yes(gpu.features.timestamps)} · max binding ${formatBytes(gpu.limits.maxStorageBufferBindingSize)}`;
    if (!gpu.features.timestamps) {
      ui.profile.checked = false;
      ui.profile.disabled = true;
      ui.profile.parentElement!.title = 'this adapter has no timestamp-query feature';
    }
  } catch (e) {
    ui.adapter.textContent = 'WebGPU unavailable';
    showError(e);
  }
}

// ---- model ----

async function servedModel(): Promise<ModelInfo | undefined> {
  const res = await fetch(MODEL_INFO_PATH).catch(() => undefined);
  return res?.ok ? ((await res.json()) as ModelInfo) : undefined;
}

async function loadModel(source: FileSource): Promise<void> {
  if (state.loading) return;
  state.loading = true;
  updateButtons();
  clearError();
  ui.progress.value = 0;
  ui.tokenizerNote.textContent = '';
  ui.loadStatus.textContent = `Opening ${source.name} …`;
  ui.loadStatus.dataset.state = 'loading';
  try {
    if (state.session) {
      await adapters.setModel(undefined);
      closeSession(state.session);
      state.session = undefined;
    }
    const gpu = await pageGpu(ui.profile.checked);
    const quantize = (ui.quantize.value || undefined) as Quantization | undefined;
    const session = await openSession(source, gpu, (p) => {
      ui.progress.value = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 1;
      ui.loadStatus.textContent = `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)} · ${p.mbPerSec.toFixed(0)} MB/s · ${p.tensor}`;
    }, quantize);
    session.pipeline.model.recordQueries = true;
    state.session = session;
    const c = session.checkpoint;
    ui.progress.value = 1;
    ui.loadStatus.textContent =
      `Loaded ${session.sourceName}: ${formatBytes(c.bytesRead)} in ${c.seconds.toFixed(2)} s · ` +
      `${c.config.vision.imageSize} px, ${c.config.text.numLayers} text layers · weights ${quantize ?? 'bf16'}, ${formatBytes(residentBytes(c.weights))} on the GPU` +
      (c.warnings.length ? ` · ${c.warnings.length} warning(s), see console` : '');
    for (const w of c.warnings) console.warn(w);
    ui.tokenizerNote.textContent = session.tokenizerNote;
    fillSampling(samplingUi, resolveSampling({}, c.generation));
    fillAttentionControls(ui.attnLayer, ui.attnHead, session.pipeline.model);
    renderTimings(ui.timings, { seconds: c.seconds, bytes: c.bytesRead }, undefined, 0);
    ui.loadStatus.dataset.state = 'loaded';
    // The server's adapters go with the server's model: a folder from disk asks the server nothing.
    await adapters.setModel(session.pipeline, source instanceof HttpFileSource);
    if (await source.exists(MASK_DECODER_FILE)) {
      await setMaskDecoder(await source.read(MASK_DECODER_FILE, 0, await source.size(MASK_DECODER_FILE)), `${source.name}/${MASK_DECODER_FILE}`);
    }
  } catch (e) {
    ui.progress.value = 0;
    ui.loadStatus.textContent = 'No model loaded.';
    ui.loadStatus.dataset.state = 'failed';
    showError(e);
  } finally {
    state.loading = false;
    updateButtons();
  }
}

async function loadServed(): Promise<void> {
  const info = await servedModel();
  if (!info) return showError(new Error('the playground server offers no model (start it with `paligemma playground --model DIR`)'));
  await loadModel(new HttpFileSource(new URL(MODEL_PREFIX, location.href), { name: info.name, files: info.files.map((f) => f.path) }));
}

async function openFolder(): Promise<void> {
  // showDirectoryPicker (Chromium) lists the folder without reading it; elsewhere the file input.
  const picker = (window as { showDirectoryPicker?: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
  if (!picker) return ui.folderInput.click();
  let dir: FileSystemDirectoryHandle;
  try {
    dir = await picker();
  } catch {
    return; // cancelled
  }
  await loadModel(await BrowserFileSource.fromDirectoryHandle(dir));
}

// ---- mask decoder ----

/** The decoder on the device generations run on (rebuilt from the file when the device changed). */
async function maskDecoder(): Promise<MaskDecoder | undefined> {
  if (!state.vae) return undefined;
  const gpu = state.session?.gpu ?? (await pageGpu(ui.profile.checked));
  if (state.decoder?.gpu !== gpu) {
    state.decoder?.decoder.destroy();
    state.decoder = undefined;
    state.decoder = { gpu, decoder: await MaskDecoder.fromNpz(gpu, state.vae.name, state.vae.bytes) };
  }
  return state.decoder.decoder;
}

async function setMaskDecoder(bytes: Uint8Array, name: string): Promise<void> {
  clearError();
  const previous = state.vae;
  state.vae = { name, bytes };
  state.decoder?.decoder.destroy();
  state.decoder = undefined;
  try {
    await maskDecoder(); // reads and checks the file now, not at the first segment prompt
    ui.vaeStatus.textContent = `Mask decoder: ${name} (${formatBytes(bytes.length)})`;
    ui.vaeStatus.dataset.state = 'loaded';
    const segs = state.objects?.segmentations ?? [];
    if (segs.length) showObjects({ ...state.objects!, masks: await masksFor(segs) });
  } catch (e) {
    state.vae = previous;
    ui.vaeStatus.textContent = `${name} is not a usable mask decoder${previous ? `; still using ${previous.name}` : ''}.`;
    ui.vaeStatus.dataset.state = 'failed';
    showError(e);
  }
}

/** Decoded masks for the current image's segmentations (none without a decoder). */
async function masksFor(segs: Segmentation[]): Promise<ObjectMask[] | undefined> {
  const first = state.images[0]?.image;
  const decoder = segs.length && first ? await maskDecoder() : undefined;
  state.hiddenMasks.clear();
  state.masks = decoder ? await decodeMasks(decoder, segs, first!.width, first!.height) : undefined;
  return state.masks;
}

function showObjects(objs: Objects): void {
  state.objects = { ...objs, hiddenMasks: state.hiddenMasks };
  drawObjects(ui.overlayCanvas, state.objects);
  listObjects(ui.objects, state.objects, (j, visible) => {
    if (visible) state.hiddenMasks.delete(j);
    else state.hiddenMasks.add(j);
    drawObjects(ui.overlayCanvas, state.objects!);
  });
}

// ---- images ----

/** The prompt's images: picture files in the order given, or the sampled frames of one video. */
async function setImages(files: File[]): Promise<void> {
  clearError();
  try {
    let images: PageImage[];
    let captions: string[];
    let info: string;
    const video = files.find(isVideo);
    if (video) {
      if (files.length > 1) throw new Error(`choose one video, or pictures only (got ${video.name} among ${files.length} files)`);
      const { frames, times, duration } = await sampleVideoFrames(video, video.name, Number(ui.frames.value) || undefined);
      images = frames.map((image, k) => ({ image, name: `${video.name} @ ${times[k]!.toFixed(2)} s` }));
      captions = times.map((t) => `${t.toFixed(2)} s`);
      info = `${video.name} · ${frames.length} frames of ${duration.toFixed(2)} s, evenly spaced · ${frames[0]!.width}×${frames[0]!.height}`;
      state.video = video;
    } else {
      images = await Promise.all(files.map((f) => readImage(f, f.name)));
      captions = images.map((_, k) => `image ${k + 1}`);
      const one = (img: PageImage) => `${img.name} · ${img.image.width}×${img.image.height}${img.note ? ` · ${img.note}` : ''}`;
      info = images.length === 1 ? one(images[0]!) : `${images.length} images, in this order: ${images.map(one).join('; ')}`;
      state.video = undefined;
    }
    state.images = images;
    state.stripHeat = renderStrip(ui.strip, images, captions, (k) => showImage(k));
    ui.stageHint.hidden = true;
    ui.imageInfo.textContent = info;
    state.run = undefined;
    state.selectedToken = undefined;
    state.masks = undefined;
    state.objects = undefined;
    showImage(0);
  } catch (e) {
    showError(e);
  }
  updateButtons();
}

/** Puts image k on the stage (boxes and masks only over the first: they are in its pixels). */
function showImage(k: number): void {
  state.shown = k;
  drawImage([ui.imageCanvas, ui.heatCanvas, ui.overlayCanvas], state.images[k]!.image);
  ui.overlayCanvas.hidden = k !== 0;
  markShown(ui.strip, k);
  renderOutput();
  void showAttention();
}

async function onDrop(ev: DragEvent): Promise<void> {
  ev.preventDefault();
  ui.stage.classList.remove('drag');
  const item = ev.dataTransfer?.items[0];
  const entry = item?.webkitGetAsEntry();
  if (entry?.isDirectory) return loadModel(await BrowserFileSource.fromDirectoryEntry(entry as FileSystemDirectoryEntry));
  const files = [...(ev.dataTransfer?.files ?? [])];
  if (files.length) await setImages(files);
}

// ---- generation ----

function renderOutput(): void {
  const run = state.run;
  renderText(ui.output, run ? run.deltas.join('') : '');
  const piece = (id: number) => state.session?.pipeline.tokenizer.tokenToString(id) ?? '?';
  renderTokens(ui.tokens, run?.ids ?? [], piece, state.selectedToken, (k) => void selectToken(k));
  showObjects({ detections: run?.result?.detections ?? [], segmentations: run?.result?.segmentations ?? [], masks: state.masks });
  if (state.selectedToken === undefined) {
    clearAttention();
    ui.candTable.replaceChildren();
    ui.candStatus.textContent = '';
  }
}

async function generate(): Promise<void> {
  const session = state.session;
  const images = state.images.map((i) => i.image);
  if (!session || images.length === 0 || state.controller) return;
  clearError();
  const prompt = ui.prompt.value.trim();
  const request: Request = { image: images.length === 1 ? images[0]! : images, prompt };
  let sampling;
  try {
    sampling = readSampling(samplingUi);
  } catch (e) {
    return showError(e);
  }
  const controller = new AbortController();
  state.controller = controller;
  const run: RunRecord = { prompt, ids: [], deltas: [], text: '', result: undefined, stopped: false, logits: [], textIds: session.pipeline.tokenizer.encodePrompt(prompt) };
  state.run = run;
  state.selectedToken = undefined;
  state.masks = undefined;
  ui.genStatus.dataset.state = 'running';
  ui.genStatus.textContent = `Encoding the image${images.length > 1 ? `s (${images.length})` : ''} and prefilling …`;
  renderOutput();
  updateButtons();
  const { pipeline, gpu } = session;
  const maxNewTokens = Math.max(1, Math.min(256, Number(ui.maxTokens.value) || 16));
  let generation: QueuedGeneration | undefined;
  const vocab = pipeline.model.config.text.vocabSize;
  const onLogits = ui.keepLogits.checked ? async (logits: GPUBuffer, k: number) => void (run.logits[k] = await gpu.readF32(logits, 0, vocab)) : undefined;
  try {
    await gpu.profiler?.collect(); // start the profile from this generation
    pipeline.setAdapters(adapters.active(), { merge: adapters.merge });
    generation = pipeline.generate([request], { ...sampling, maxNewTokens, signal: controller.signal, onLogits });
    // The base runs after it (the queue batches only requests with the same adapters).
    ui.baseBox.hidden = !adapters.compare;
    ui.outputBase.textContent = '';
    if (adapters.compare) {
      pipeline.setAdapters([]);
      void streamText(pipeline.generate([request], { ...sampling, maxNewTokens, signal: controller.signal }), ui.outputBase);
      pipeline.setAdapters(adapters.active(), { merge: adapters.merge });
    }
    const decoder = pipeline.tokenizer.createStreamDecoder();
    for await (const t of generation) {
      run.ids.push(t.id);
      run.deltas.push(decoder.push(t.id));
      ui.genStatus.textContent = `Generating … ${run.ids.length} token${run.ids.length === 1 ? '' : 's'}`;
      renderOutput();
    }
    run.deltas.push(decoder.flush());
  } catch (e) {
    run.stopped = controller.signal.aborted;
    if (!run.stopped) run.error = e;
  } finally {
    state.controller = undefined;
  }
  if (run.error !== undefined) {
    showError(run.error);
    renderOutput();
    ui.genStatus.textContent = 'Failed (see the message above).';
    ui.genStatus.dataset.state = 'done';
    updateButtons();
    return;
  }
  try {
    run.text = pipeline.tokenizer.decode(run.ids);
    run.result = pipeline.results([request], [run.ids])[0];
    await gpu.finish(); // a stopped generation may still have a step in flight
    await masksFor(run.result?.segmentations ?? []);
    const profile = gpu.profiler ? summarizeProfile(await gpu.profiler.collect()) : [];
    ui.profileBox.hidden = profile.length === 0;
    if (profile.length) {
      renderProfile(ui.profileTable, profile);
      ui.profileBox.open = true;
    }
    const c = session.checkpoint;
    renderTimings(ui.timings, { seconds: c.seconds, bytes: c.bytesRead }, generation?.timings, run.ids.length);
  } catch (e) {
    showError(e);
  }
  renderOutput();
  ui.genStatus.textContent = `${run.stopped ? 'Stopped' : 'Done'} · ${run.ids.length} token${run.ids.length === 1 ? '' : 's'}` + (run.ids.length ? ' · click a token for its attention map' : '');
  ui.genStatus.dataset.state = 'done';
  updateButtons();
}

/** Streams a generation's text into `out` (the side-by-side base output). */
async function streamText(g: QueuedGeneration, out: HTMLElement): Promise<void> {
  const decoder = state.session!.pipeline.tokenizer.createStreamDecoder();
  let text = '';
  try {
    for await (const t of g) renderText(out, (text += decoder.push(t.id)));
    renderText(out, text + decoder.flush());
  } catch (e) {
    if (!(e instanceof DOMException && e.name === 'AbortError')) renderText(out, `${text} (failed: ${e instanceof Error ? e.message : String(e)})`);
  }
}

// ---- attention ----

async function selectToken(k: number): Promise<void> {
  state.selectedToken = k;
  renderOutput();
  await Promise.all([showAttention(), showCandidates()]);
}

let candidateCalls = 0;

/** The clicked token's candidates under the settings shown now. */
async function showCandidates(): Promise<void> {
  const call = ++candidateCalls;
  const { session, run, selectedToken: k } = state;
  ui.candTable.replaceChildren();
  ui.candStatus.textContent = '';
  delete ui.candStatus.dataset.state;
  if (!session || !run || k === undefined || state.controller) return;
  const logits = run.logits[k];
  if (!logits) {
    ui.candStatus.textContent = `No logits were kept for token ${k}: tick 'candidates on click' and generate again.`;
    return;
  }
  try {
    const settings = resolveSampling(readSampling(samplingUi), session.checkpoint.generation);
    const { pipeline, gpu } = session;
    const c = await stepCandidates(gpu, pipeline.model.config, logits, settings, run.textIds, run.ids.slice(0, k), 10);
    if (call !== candidateCalls) return; // a later click or setting is being shown
    const piece = (id: number) => pipeline.tokenizer.tokenToString(id) ?? '?';
    renderCandidates(ui.candTable, c, run.ids[k]!, piece);
    ui.candStatus.textContent = `token ${k} “${piece(run.ids[k]!)}”: the ${c.top.length} most probable of the ${c.kept} tokens its step keeps, ${describeSampling(settings)}`;
    ui.candStatus.dataset.state = 'shown';
  } catch (e) {
    showError(e);
  }
}

function clearAttention(): void {
  state.attention = undefined;
  for (const c of [ui.heatCanvas, ...state.stripHeat]) clearHeatmap(c);
  ui.attnPatch.textContent = '';
}

const percent = (x: number) => `${(x * 100).toFixed(1)}%`;

let attentionCalls = 0;

async function showAttention(): Promise<void> {
  const call = ++attentionCalls;
  const { session, run, selectedToken: k } = state;
  if (!session || !run || k === undefined || state.controller) return;
  if (!ui.attnShow.checked) return clearAttention();
  const layer = Number(ui.attnLayer.value);
  const head = ui.attnHead.value === 'mean' ? 'mean' : Number(ui.attnHead.value);
  try {
    const a = await imageAttention(session.pipeline.model, layer, head, k);
    if (call !== attentionCalls || state.controller) return; // a later click, layer or head is being shown, or a generation runs
    state.attention = a;
    const per = a.maps[0]!.length;
    const grid = Math.round(Math.sqrt(per));
    // Every image on one colour scale, so that the maps compare.
    const all = a.maps.reduce((r, m) => {
      const x = weightRange(m);
      return { min: Math.min(r.min, x.min), max: Math.max(r.max, x.max) };
    }, weightRange(a.maps[0]!));
    drawHeatmap(ui.heatCanvas, a.maps[state.shown]!, grid, all);
    if (a.maps.length > 1) a.maps.forEach((m, i) => drawHeatmap(state.stripHeat[i]!, m, grid, all));
    const piece = session.pipeline.tokenizer.tokenToString(run.ids[k]!) ?? '?';
    const n = a.maps.length;
    const where =
      n === 1
        ? ''
        : ` of ${n} images (${a.shares.map((s, i) => `image ${i + 1}: ${percent(s)}`).join(', ')}); the stage shows image ${state.shown + 1}, patches ${state.shown * per}–${(state.shown + 1) * per - 1}`;
    ui.attnStatus.textContent = `token ${k} “${piece}” · layer ${layer} · head ${ui.attnHead.value}: ${percent(a.mass)} of its attention is on the ${n * per} image patches${where}`;
  } catch (e) {
    showError(e);
  }
}

/** Names the patch under the pointer: which image, where in its grid, and its weight. */
function describePatch(ev: MouseEvent): void {
  const a = state.attention;
  if (!a) return;
  const per = a.maps[0]!.length;
  const grid = Math.round(Math.sqrt(per));
  const box = ui.heatCanvas.getBoundingClientRect();
  const col = Math.min(grid - 1, Math.floor(((ev.clientX - box.left) / box.width) * grid));
  const row = Math.min(grid - 1, Math.floor(((ev.clientY - box.top) / box.height) * grid));
  if (col < 0 || row < 0) return;
  const i = row * grid + col;
  ui.attnPatch.textContent = `patch ${state.shown * per + i} = image ${state.shown + 1} of ${a.maps.length}, row ${row}, column ${col}: ${percent(a.maps[state.shown]![i]!)} of the attention`;
}

// ---- wiring ----

ui.loadServed.addEventListener('click', () => void loadServed());
ui.openFolder.addEventListener('click', () => void openFolder());
ui.folderInput.addEventListener('change', () => {
  if (ui.folderInput.files?.length) void loadModel(BrowserFileSource.fromFileList(ui.folderInput.files));
});
ui.pickImage.addEventListener('click', () => ui.imageInput.click());
ui.pickVae.addEventListener('click', () => ui.vaeInput.click());
ui.vaeInput.addEventListener('change', () => {
  const f = ui.vaeInput.files?.[0];
  if (f) void f.arrayBuffer().then((b) => setMaskDecoder(new Uint8Array(b), f.name));
});
ui.imageInput.addEventListener('change', () => {
  const files = [...(ui.imageInput.files ?? [])];
  if (files.length) void setImages(files);
});
// A second 'change' for the same count (the field's blur after a scripted one) must not resample:
// that would clear the run the next click starts.
ui.frames.addEventListener('change', () => {
  if (state.video && Number(ui.frames.value) !== state.images.length) void setImages([state.video]);
});
ui.stage.addEventListener('mousemove', describePatch);
ui.stage.addEventListener('dragover', (e) => {
  e.preventDefault();
  ui.stage.classList.add('drag');
});
ui.stage.addEventListener('dragleave', () => ui.stage.classList.remove('drag'));
ui.stage.addEventListener('drop', (e) => void onDrop(e));
for (const input of [ui.task, ui.lang, ui.taskText]) input.addEventListener('input', () => composePrompt(ui));
ui.prompt.addEventListener('input', () => (ui.task.value = 'custom'));
ui.generate.addEventListener('click', () => void generate());
ui.stop.addEventListener('click', () => state.controller?.abort());
for (const input of [ui.attnLayer, ui.attnHead, ui.attnShow]) input.addEventListener('change', () => void showAttention());
for (const input of Object.values(samplingUi)) input.addEventListener('change', () => void showCandidates());

/** A handle for the end-to-end tests and for poking at the page from the console. */
const playground = {
  state,
  /**
   * Parses `text` as the given task's output for the current image and draws it (as after a
   * generation: with masks when a mask decoder is loaded).
   */
  async drawResultText(text: string, task: 'detect' | 'segment'): Promise<Objects> {
    const img = state.images[0]?.image;
    if (!img) throw new Error('no image');
    const segmentations = task === 'segment' ? parseSegmentations(text, img.width, img.height) : [];
    const objs: Objects = {
      detections: task === 'detect' ? parseDetections(text, img.width, img.height) : [],
      segmentations,
      masks: await masksFor(segmentations),
    };
    showObjects(objs);
    renderText(ui.output, text);
    return objs;
  },
  /** Whether navigator.gpu hands out an adapter at all (checked before anything else in the tests). */
  async webgpuAvailable(): Promise<boolean> {
    return (await navigator.gpu?.requestAdapter()) != null;
  },
};
(window as unknown as { playground: typeof playground }).playground = playground;

async function start(): Promise<void> {
  composePrompt(ui);
  updateButtons();
  const info = await servedModel();
  if (info) {
    ui.loadServed.dataset.available = 'yes';
    const total = info.files.reduce((a, f) => a + f.size, 0);
    ui.served.textContent = `Served by the playground: ${info.name} (${info.files.length} files, ${formatBytes(total)})`;
  } else {
    ui.served.textContent = 'No model served here: open a PaliGemma folder from your disk.';
  }
  updateButtons();
  const sample = await fetch('sample.png').catch(() => undefined);
  if (sample?.ok) await setImages([new File([await sample.blob()], 'sample.png', { type: 'image/png' })]);
  await describeGpu();
  document.body.dataset.ready = 'yes';
}

void start();
