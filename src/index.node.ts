/// <reference types="@webgpu/types" preserve="true" />
// The library for Node: the same as the browser build, with Dawn and the file-system helpers.
export * from './index.common.js';
export { requestGpu, type NodeGpuOptions } from './node/gpu.js';
export { loadModel, loadLoraFromDir, type LoadedModel, type LoadModelOptions } from './node/load-model.js';
export { loadCheckpointFromDir, NodeFileSource } from './loader/node.js';
export { HttpFileSource, type HttpFileSourceOptions } from './browser/http-source.js';
export { loadTokenizer } from './tokenizer/load.js';
export { pngBytes } from './node/mask-files.js';
export { resolveHubModel, type HubOptions, type HubDownloadProgress } from './node/hub-model.js';
export { hubFileSource, type HubSourceOptions } from './browser/hub-source.js';
