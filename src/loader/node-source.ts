import { open, stat, readFile, readdir, type FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { FileSource } from './source.js';

/**
 * A checkpoint folder on disk. File handles are opened lazily and kept open (one per
 * file) because the loader reads each shard in many chunks; call close() at the end.
 */
export class NodeFileSource implements FileSource {
  readonly name: string;
  private readonly root: string;
  private readonly handles = new Map<string, Promise<FileHandle>>();

  constructor(dir: string) {
    this.root = resolve(dir);
    this.name = dir;
  }

  private path(p: string): string {
    const full = resolve(join(this.root, p));
    // Index files name shard files; never let a crafted name escape the folder.
    if (full !== this.root && !full.startsWith(this.root + sep)) {
      throw new Error(`${this.name}: path ${JSON.stringify(p)} is outside the checkpoint folder`);
    }
    return full;
  }

  private handle(p: string): Promise<FileHandle> {
    let h = this.handles.get(p);
    if (!h) {
      h = open(this.path(p), 'r');
      this.handles.set(p, h);
      h.catch(() => this.handles.delete(p));
    }
    return h;
  }

  async list(): Promise<string[]> {
    return (await readdir(this.root)).sort();
  }

  async size(p: string): Promise<number> {
    return (await stat(this.path(p))).size;
  }

  async read(p: string, offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(p, offset, out);
    return out;
  }

  async readInto(p: string, offset: number, target: Uint8Array): Promise<void> {
    const fh = await this.handle(p);
    let done = 0;
    // read() may return fewer bytes than asked; loop until the target is full.
    while (done < target.length) {
      const { bytesRead } = await fh.read(target, done, target.length - done, offset + done);
      if (bytesRead === 0) {
        throw new Error(`${this.name}/${p}: unexpected end of file at byte ${offset + done}`);
      }
      done += bytesRead;
    }
  }

  async readText(p: string): Promise<string> {
    return readFile(this.path(p), 'utf8');
  }

  async exists(p: string): Promise<boolean> {
    try {
      return (await stat(this.path(p))).isFile();
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map(async (h) => (await h.catch(() => null))?.close()));
  }
}
