// A checkpoint folder the user picked on their own disk: File objects from a directory picker
// (showDirectoryPicker), an <input type=file webkitdirectory>, or a dropped folder. Nothing is
// uploaded anywhere; reads are Blob slices, so only the chunk being loaded is in memory.

import type { FileSource } from '../loader/source.js';

export class BrowserFileSource implements FileSource {
  /** `files`: path relative to the checkpoint root ('/'-separated) → File. */
  constructor(readonly name: string, private readonly files: Map<string, File>) {}

  /**
   * From an <input webkitdirectory> FileList: every webkitRelativePath starts with the chosen
   * folder's name, which is stripped so paths are relative to the checkpoint root.
   */
  static fromFileList(list: Iterable<File>): BrowserFileSource {
    const files = new Map<string, File>();
    let name = '';
    for (const f of list) {
      const rel = f.webkitRelativePath || f.name;
      const slash = rel.indexOf('/');
      name ||= slash > 0 ? rel.slice(0, slash) : 'selected files';
      files.set(slash > 0 ? rel.slice(slash + 1) : rel, f);
    }
    return new BrowserFileSource(name, files);
  }

  /** From a FileSystemDirectoryHandle (showDirectoryPicker): the files at the folder's top level. */
  static async fromDirectoryHandle(dir: FileSystemDirectoryHandle): Promise<BrowserFileSource> {
    const files = new Map<string, File>();
    // TypeScript's DOM lib lacks the async iterator of directory handles.
    for await (const entry of (dir as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) {
      if (entry.kind === 'file') files.set(entry.name, await (entry as FileSystemFileHandle).getFile());
    }
    return new BrowserFileSource(dir.name, files);
  }

  /** From a folder dropped on the page (DataTransferItem.webkitGetAsEntry()): its top-level files. */
  static async fromDirectoryEntry(dir: FileSystemDirectoryEntry): Promise<BrowserFileSource> {
    const reader = dir.createReader();
    const entries: FileSystemEntry[] = [];
    // readEntries returns the listing in batches until an empty one.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      entries.push(...batch);
    }
    const files = new Map<string, File>();
    for (const e of entries) {
      if (e.isFile) files.set(e.name, await new Promise<File>((resolve, reject) => (e as FileSystemFileEntry).file(resolve, reject)));
    }
    return new BrowserFileSource(dir.name, files);
  }

  private get(path: string): File {
    const f = this.files.get(path);
    if (!f) throw new Error(`${this.name}/${path}: no such file in the chosen folder`);
    return f;
  }

  async list(): Promise<string[]> {
    return [...this.files.keys()].sort();
  }

  async size(path: string): Promise<number> {
    return this.get(path).size;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const f = this.get(path);
    if (offset < 0 || offset + length > f.size) {
      throw new Error(`${this.name}/${path}: read of ${length} bytes at ${offset} runs past the end (${f.size} bytes)`);
    }
    return new Uint8Array(await f.slice(offset, offset + length).arrayBuffer());
  }

  async readText(path: string): Promise<string> {
    return this.get(path).text();
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(path);
  }
}
