// @ts-check
// A minimal page: caption an image with a PaliGemma checkpoint served over HTTP.
// URL parameters: model (folder URL, default "model/"), image (default "shapes.png"),
// prompt (default "caption en"), tokens (most new tokens, default 20).
import { decodeImage, HttpFileSource, loadModelFromSource, requestGpu } from 'paligemma-webgpu';

const params = new URLSearchParams(location.search);
const modelUrl = new URL(params.get('model') ?? 'model/', location.href);
const imageUrl = new URL(params.get('image') ?? 'shapes.png', location.href);
const prompt = params.get('prompt') ?? 'caption en';
const maxNewTokens = Number(params.get('tokens') ?? 20);

const out = /** @type {HTMLElement} */ (document.getElementById('out'));
/** @type {HTMLElement} */ (document.getElementById('model')).textContent = modelUrl.href;
/** @type {HTMLElement} */ (document.getElementById('image')).textContent = imageUrl.href;
/** @type {HTMLImageElement} */ (document.getElementById('picture')).src = imageUrl.href;

try {
  const gpu = await requestGpu();
  const { pipeline } = await loadModelFromSource(gpu, new HttpFileSource(modelUrl), {
    onProgress: (p) => (out.textContent = `loading ${Math.round((100 * p.bytesDone) / p.bytesTotal)} %`),
  });
  const bytes = new Uint8Array(await (await fetch(imageUrl)).arrayBuffer());
  const image = decodeImage(bytes, imageUrl.pathname);
  out.textContent = '';
  out.dataset.state = 'generating';
  const decoder = pipeline.tokenizer.createStreamDecoder();
  for await (const token of pipeline.generate([{ image, prompt }], { maxNewTokens })) out.textContent += decoder.push(token.id);
  out.textContent += decoder.flush();
  out.dataset.state = 'done';
} catch (e) {
  out.textContent = String(e instanceof Error ? e.message : e);
  out.dataset.state = 'failed';
}
