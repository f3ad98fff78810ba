// Everything that runs the same in Node and the browser: the model-level API (loading from any
// FileSource, Pipeline, image decoding, task prompts and parsing, masks) over the graph, the
// loader and the kernels, which are also published on their own (./graph, ./loader, ./kernels).
export * from './kernels/index.js';
export * from './graph/index.js';
export * from './loader/index.js';
export { describeAdapter, type GpuOptions } from './adapter.js';
export { loadModelFromSource, type LoadFromSourceOptions, type LoadedPipeline } from './load-source.js';
export { Pipeline, type Request, type Result } from './pipeline.js';
export { QueuedGeneration, RequestQueue } from './request-queue.js';
export { PaliGemmaTokenizer, type DecodeOptions } from './tokenizer/tokenizer.js';
export type { TokenizerJson, AddedTokenJson } from './tokenizer/paligemma-tokens.js';
export { decodeImage, detectImageFormat, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, type ImageFormat, type RgbImage } from './image/decode.js';
export { ImageError } from './image/errors.js';
export { preprocessImage, type PreprocessOptions } from './image/preprocess.js';
export { overlayMasks, PALETTE, type OverlayObject } from './image/overlay.js';
export { parseDetections, parseSegmentations, taskPrompt, type Task, type TaskPromptOptions, type Segmentation, type Detection, type Box, type ParseOptions } from './tasks.js';
export { decodeMasks, textToMasks, pasteMask, pixelBox, maskToUint8, type ObjectMask, type PixelBox } from './masks.js';
export { NpzArchive, NpzError, type NpyArray, type NpzProblem } from './loader/npz.js';
export { QUANTIZATIONS } from './weights.js';
