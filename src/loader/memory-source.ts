import type { FileSource } from './source.js';

/**
 * Files already in memory (small checkpoints, tests, files built by code). Reads return
 * copies so callers may mutate them, like the bytes a real file read returns.
 */
export class MemoryFileSource implements FileSource {
  constructor(readonly name: string, private readonly files: Map<string, Uint8Array | string>) {}

  private get(path: string): Uint8Array {
    const f = this.files.get(path);
    if (f === undefined) throw new Error(`${this.name}/${path}: no such file`);
    return typeof f === 'string' ? new TextEncoder().encode(f) : f;
  }

  async list(): Promise<string[]> {
    return [...this.files.keys()].sort();
  }

  async size(path: string): Promise<number> {
    return this.get(path).length;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const f = this.get(path);
    if (offset < 0 || offset + length > f.length) {
      throw new Error(`${this.name}/${path}: read of ${length} bytes at ${offset} runs past the end (${f.length} bytes)`);
    }
    return f.slice(offset, offset + length);
  }

  async readText(path: string): Promise<string> {
    const f = this.files.get(path);
    return typeof f === 'string' ? f : new TextDecoder().decode(this.get(path));
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(path);
  }
}
