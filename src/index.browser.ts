// The library for the browser: kernels, graph and loader over navigator.gpu (or a caller's device).
export * from './index.common.js';
export { requestGpu } from './browser/gpu.js';
export { hubFileSource, type HubSourceOptions } from './browser/hub-source.js';
