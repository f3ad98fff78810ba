/// <reference types="@webgpu/types" preserve="true" />
// The loader for the browser (`paligemma-webgpu/loader`, browser condition): checkpoints over HTTP
// (Range requests) or picked from the user's disk.
export * from './index.js';
export { HttpFileSource, type HttpFileSourceOptions } from '../browser/http-source.js';
export { BrowserFileSource } from '../browser/file-source.js';
