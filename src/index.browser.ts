/// <reference types="@webgpu/types" preserve="true" />
// The library for the browser: kernels, graph and loader over navigator.gpu (or a caller's device).
export * from './index.common.js';
export { requestGpu } from './browser/gpu.js';
export { HttpFileSource, type HttpFileSourceOptions } from './browser/http-source.js';
export { BrowserFileSource } from './browser/file-source.js';
export { hubFileSource, type HubSourceOptions } from './browser/hub-source.js';
