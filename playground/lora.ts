// The page's LoRA adapters: the folders `paligemma playground --lora` serves (loaded with the model)
// and those opened from disk, each switched on or off (those on add up), and whether the base model
// runs beside them for a side-by-side output, and whether they run merged into f32 copies of their
// weights (on when the server was started with --lora-merge). Switching costs no reload: the
// Pipeline applies the adapters between requests (docs/lora.md).

import { BrowserFileSource } from '../src/browser/file-source.js';
import { HttpFileSource } from '../src/browser/http-source.js';
import { LORA_INFO_PATH, LORA_MERGE_HEADER, LORA_PREFIX, type ModelInfo } from '../src/browser/playground-routes.js';
import type { LoraAdapter } from '../src/graph/lora.js';
import type { FileSource } from '../src/loader/source.js';
import type { Pipeline } from '../src/pipeline.js';
import { el } from './dom.js';

export interface AdapterUi {
  list: HTMLElement;
  open: HTMLButtonElement;
  input: HTMLInputElement;
  compare: HTMLInputElement;
  merge: HTMLInputElement;
}

export class AdapterPanel {
  private entries: { adapter: LoraAdapter; on: boolean }[] = [];
  private pipeline: Pipeline | undefined;

  constructor(private readonly ui: AdapterUi, private readonly onError: (e: unknown) => void) {
    ui.open.addEventListener('click', () => void this.openFolder());
    ui.input.addEventListener('change', () => {
      if (ui.input.files?.length) void this.add(BrowserFileSource.fromFileList(ui.input.files));
      ui.input.value = '';
    });
    this.render();
  }

  /** A new model: the old one's adapters go; with `served`, the server's are loaded onto it. */
  async setModel(pipeline: Pipeline | undefined, served = false): Promise<void> {
    for (const e of this.entries) e.adapter.destroy();
    this.entries = [];
    this.pipeline = pipeline;
    this.render();
    if (!pipeline || !served) return;
    const res = await fetch(LORA_INFO_PATH).catch(() => undefined);
    const list = res?.ok ? ((await res.json()) as ModelInfo[]) : [];
    if (res?.headers.get(LORA_MERGE_HEADER) === '1') this.ui.merge.checked = true;
    for (const [i, info] of list.entries()) {
      await this.add(new HttpFileSource(new URL(`${LORA_PREFIX}${i}/`, location.href), { name: info.name, files: info.files.map((f) => f.path) }));
    }
  }

  /** The adapters switched on, in the list's order. */
  active(): LoraAdapter[] {
    return this.entries.filter((e) => e.on).map((e) => e.adapter);
  }

  /** Whether the base model should run beside the adapters. */
  get compare(): boolean {
    return this.ui.compare.checked && this.active().length > 0;
  }

  /** Whether the adapters run merged into f32 copies of their weights. */
  get merge(): boolean {
    return this.ui.merge.checked;
  }

  /** Reads an adapter folder onto the current model and switches it on. */
  async add(source: FileSource): Promise<void> {
    if (!this.pipeline) return this.onError(new Error('load a model before its LoRA adapters'));
    try {
      const adapter = await this.pipeline.loadAdapter(source);
      for (const w of adapter.warnings) console.warn(w);
      this.entries.push({ adapter, on: true });
    } catch (e) {
      this.onError(e);
    }
    this.render();
  }

  private async openFolder(): Promise<void> {
    const picker = (window as { showDirectoryPicker?: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
    if (!picker) return this.ui.input.click();
    let dir: FileSystemDirectoryHandle;
    try {
      dir = await picker();
    } catch {
      return; // cancelled
    }
    await this.add(await BrowserFileSource.fromDirectoryHandle(dir));
  }

  private render(): void {
    this.ui.open.disabled = !this.pipeline;
    if (this.entries.length === 0) {
      this.ui.list.replaceChildren(el('li', { className: 'muted', textContent: 'None: the base model runs.' }));
      return;
    }
    this.ui.list.replaceChildren(
      ...this.entries.map((e) => {
        const box = el('input', { type: 'checkbox', checked: e.on });
        box.addEventListener('change', () => (e.on = box.checked));
        const modules = e.adapter.deltas.size;
        return el('li', {}, el('label', {}, box, ` ${e.adapter.name} `, el('span', { className: 'muted', textContent: `(${modules} layer${modules === 1 ? '' : 's'})` })));
      }),
    );
  }
}
