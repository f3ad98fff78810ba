/// <reference types="@webgpu/types" preserve="true" />
// The loader for Node (`paligemma-webgpu/loader`, node condition): checkpoint folders on disk.
export * from './index.js';
export { loadCheckpointFromDir, NodeFileSource } from './node.js';
export { HttpFileSource, type HttpFileSourceOptions } from '../browser/http-source.js';
