/**
 * Where checkpoint files come from. The loader only talks to this interface so the same
 * code runs in Node (a folder on disk, see node-source.ts) and in the browser (fetch with
 * Range requests, or File objects from a file picker).
 *
 * Paths are relative to the checkpoint root and use '/' (e.g. "model.safetensors").
 * Implementations must return exactly the bytes asked for and must never read more:
 * the loader asks for an 8-byte prefix, then the header, then the tensor data in chunks of
 * at most `stagingBytes`, so a 6 GB checkpoint never has to fit in memory.
 */
export interface FileSource {
  /** Human-readable name of the checkpoint (a directory or URL), used in error messages. */
  readonly name: string;
  /** Optional: the files in the checkpoint root (used only for nicer error messages). */
  list?(): Promise<string[]>;
  /** Size of a file in bytes. Rejects if the file does not exist. */
  size(path: string): Promise<number>;
  /**
   * Exactly `length` bytes starting at `offset`. Rejects if the range runs past the end of
   * the file (callers check sizes first, so that is a bug or a file changing under us).
   */
  read(path: string, offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional fast path: fill all of `target` with the bytes at `offset`, so the loader can
   * reuse its staging buffers instead of allocating one array per chunk.
   */
  readInto?(path: string, offset: number, target: Uint8Array): Promise<void>;
  /** Whole file as UTF-8 text (small JSON files only). */
  readText(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  /** Optional: release open handles. The loader calls it when it is done. */
  close?(): Promise<void>;
}

/** Read into `target` through readInto when the source has it, else through read(). */
export async function readIntoTarget(
  source: FileSource,
  path: string,
  offset: number,
  target: Uint8Array,
): Promise<void> {
  if (source.readInto) return source.readInto(path, offset, target);
  const bytes = await source.read(path, offset, target.length);
  if (bytes.length !== target.length) {
    throw new Error(`${source.name}/${path}: short read at ${offset} (${bytes.length} of ${target.length} bytes)`);
  }
  target.set(bytes);
}
