// The thin device layer: one Gpu object owns the GPUDevice, caches pipelines and bind groups,
// hands out per-dispatch uniform slots, records steps into command encoders, and reads back.

import { UniformArena } from './uniforms.js';
import { Profiler, type KernelTiming } from './profiler.js';
import { quietly } from './quiet-wait.js';
import { WaitEstimates } from './wait-estimates.js';

/**
 * What a @group(0) binding is: 'read' = read-only storage buffer, 'write' = read_write storage buffer,
 * 'uniform' = uniform buffer (cheap broadcast loads on CPU adapters), 'texture' = READ_TEXTURE
 * (weight-texture.ts: a read-only storage texture, read by textureLoad), 'storage-texture' =
 * texture_storage_2d_array<rgba32uint, write>.
 */
export type Storage = 'read' | 'write' | 'uniform' | 'texture' | 'storage-texture';
export interface KernelDef {
  /** Pipeline-cache name; the defines complete the key. */
  name: string;
  /** Bindings at @group(0) @binding(i), in order. */
  bindings: Storage[];
  /**
   * WGSL source. Params (if any) live at @group(1) @binding(0) as var<uniform>. Generated code is
   * passed as a function, built on first use only: its `name` must then say everything the code
   * depends on (kernels are looked up on every dispatch, and building and hashing the source each
   * time cost more CPU than the dispatch itself).
   */
  code: string | (() => string);
  entryPoint?: string;
}
export interface Kernel {
  def: KernelDef;
  /** Undefined while `creating` (use Gpu.pipelineOf). */
  pipeline?: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Why its pipeline could not be made (the WGSL's error), once known. */
  failed?: string;
  /** A pipeline asked for while recording: created on Dawn's worker threads, awaited by compile(). */
  creating?: { descriptor: GPUComputePipelineDescriptor; done: Promise<void> };
  /** Wall ms of createShaderModule + createComputePipeline (a GPU driver compiles there), or until the async one came. */
  createMs: number;
  /** Wall ms of its compile alone (lavapipe compiles at the first dispatch), where compileEach timed it. */
  compileMs?: number;
}

/** The pipeline creations still under way on Dawn's workers for these kernels. */
function creations(kernels: Kernel[]): Promise<void>[] {
  return kernels.flatMap((k) => (k.creating ? [k.creating.done] : []));
}

/** One pipeline's build times (Gpu.pipelineTimes). */
export interface PipelineTime {
  name: string;
  createMs: number;
  compileMs?: number;
}

/** Pipelines compiled so far by `Gpu.compile` and the wall time it waited for them. */
export interface CompileStats {
  pipelines: number;
  ms: number;
}
export type BufferBinding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };
/** A buffer (range) for buffer kinds, a texture view for 'texture' / 'storage-texture'. */
export type Binding = BufferBinding | GPUTextureView;

/** The buffer and byte offset of a binding that a copy may read (a buffer made with COPY_SRC), else undefined. */
export function copySource(b: Binding): { buffer: GPUBuffer; offset: number } | undefined {
  const buffer = 'buffer' in b ? b.buffer : b;
  if (!('usage' in buffer) || (buffer.usage & GPUBufferUsage.COPY_SRC) === 0) return undefined;
  return { buffer, offset: ('buffer' in b && b.offset) || 0 };
}

/**
 * Lets Dawn free what was destroy()ed on `device` now: it frees a buffer's or texture's memory once a
 * submission made after the destroy has completed, so without more work on the device (a model
 * closed before the next one loads) the memory stayed allocated — 5.8 GB of the host's after a 3B
 * model on lavapipe. Costs one empty submission.
 */
export function releaseDestroyed(device: GPUDevice): void {
  device.queue.submit([device.createCommandEncoder().finish()]);
}

export class GpuError extends Error {
  override name = 'GpuError';
}

export interface GpuFeatures {
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
  /** WGSL's read-only storage textures (readonly_and_readwrite_storage_textures): the 'texture' binding kind. */
  readTextures: boolean;
}

const ids = new WeakMap<GPUBuffer | GPUTextureView, number>();
let nextId = 1;
function resourceId(b: GPUBuffer | GPUTextureView): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, (id = nextId++));
  return id;
}

function layoutEntry(kind: Storage, binding: number): GPUBindGroupLayoutEntry {
  const visibility = GPUShaderStage.COMPUTE;
  switch (kind) {
    case 'read':
      return { binding, visibility, buffer: { type: 'read-only-storage' } };
    case 'write':
      return { binding, visibility, buffer: { type: 'storage' } };
    case 'uniform':
      return { binding, visibility, buffer: { type: 'uniform' } };
    case 'texture':
      return { binding, visibility, storageTexture: { access: 'read-only', format: 'rgba32uint', viewDimension: '2d-array' } };
    case 'storage-texture':
      return { binding, visibility, storageTexture: { access: 'write-only', format: 'rgba32uint', viewDimension: '2d-array' } };
  }
}

function wgslFeatures(given: ReadonlySet<string> | undefined): ReadonlySet<string> {
  return given ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu?.wgslLanguageFeatures ?? new Set();
}

/** Whether an adapter is a software one (lavapipe, SwiftShader), sharing the CPU cores with our own thread. */
export function isCpuAdapter(info: GPUAdapterInfo | undefined): boolean {
  const name = `${info?.vendor} ${info?.architecture} ${info?.device} ${info?.description}`;
  return Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter) || /llvmpipe|lavapipe|swiftshader|software/i.test(name);
}

/** Fewer new pipelines than this compile on the device alone. */
const MIN_HELPED_COMPILE = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many dispatches go into one command buffer before it is submitted (GPU starts while we encode). */
const DISPATCHES_PER_SUBMIT = 48;

export class Gpu {
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  readonly adapterInfo: GPUAdapterInfo | undefined;
  readonly uniforms: UniformArena;
  private readonly timestamps: Profiler | undefined;
  /**
   * Whether dispatches are timed (only on a Gpu made with `profile: true`). Timing gives every
   * dispatch its own pass and queries, which costs CPU and GPU time: benches turn it off for the
   * runs they time by the wall clock. Toggle it between steps, not inside one.
   */
  profiling: boolean;
  /** name → kernel for generated code; name → source → kernel for fixed source strings. */
  private readonly kernels = new Map<string, Kernel | Map<string, Kernel>>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly scratches = new Map<string, GPUBuffer>();
  private readonly readPool: GPUBuffer[] = [];
  private readonly waitEstimates = new WaitEstimates();
  private lostReason: string | undefined;
  /**
   * Kernels whose pipeline no dispatch has run yet. lavapipe compiles a pipeline (LLVM, seconds for a
   * big kernel) on its queue thread at the first dispatch, not at createComputePipeline: work that
   * dispatches one of these is slower by its compile time the first time only.
   */
  private readonly uncompiled = new Set<Kernel>();
  /** Whether work submitted since the last settle() dispatched an uncompiled kernel (its time is no estimate). */
  private coldWork = false;
  /** What compile() did so far. */
  readonly compiled: CompileStats = { pipelines: 0, ms: 0 };
  /** Pipelines compiled by the first dispatch of their kernel instead of compile() (its time hidden in that work's). */
  compiledOnDispatch = 0;
  /**
   * compile() takes one pipeline at a time, on this device alone, and times each (bench cold):
   * what each costs, not what a request waits for (slower than all at once beside the helpers).
   */
  compileEach = false;
  /**
   * Pipelines a recording makes are created asynchronously, on Dawn's worker threads, all at once
   * (compile() waits for them). On by default on a GPU, whose driver compiles in pipeline creation;
   * off on a CPU adapter, which compiles at the first dispatch: there the extra thread only competes
   * with the compile (README command 1 with empty caches took 0.8 s longer, 9.0–9.6 → 9.8–10.6 s).
   * compileAhead creates asynchronously either way: there this thread streams weights meanwhile.
   */
  asyncCreate: boolean;
  /** Inside record(). */
  private recording = 0;
  /** kernel() creates pipelines on Dawn's workers meanwhile, whatever asyncCreate says (compileAhead, compileDetached). */
  private createAsync = false;
  private zeroGroups: GPUBuffer | undefined;
  /** A software adapter (lavapipe, SwiftShader) shares the CPU cores with our own thread. */
  readonly cpuAdapter: boolean;
  private errors: string[] = [];

  /** Devices on the same adapter that compile beside this one (compile()); none on a GPU. */
  readonly helpers: readonly Gpu[];
  /** Placeholder resources of a compile helper, per binding kind and index (compileDetached). */
  private readonly placeholders = new Map<string, GPUBufferBinding | GPUTextureView>();

  /** wgslFeatures: the GPU object's wgslLanguageFeatures (default: navigator.gpu's, where there is one). */
  constructor(readonly device: GPUDevice, opts: { adapterInfo?: GPUAdapterInfo; profile?: boolean; compileHelpers?: GPUDevice[]; wgslFeatures?: ReadonlySet<string> } = {}) {
    this.adapterInfo = opts.adapterInfo ?? (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    this.limits = device.limits;
    this.features = {
      f16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestamps: device.features.has('timestamp-query'),
      readTextures: wgslFeatures(opts.wgslFeatures).has('readonly_and_readwrite_storage_textures'),
    };
    this.cpuAdapter = isCpuAdapter(this.adapterInfo);
    this.asyncCreate = !this.cpuAdapter;
    this.uniforms = new UniformArena(device);
    this.helpers = this.cpuAdapter ? (opts.compileHelpers ?? []).map((d) => new Gpu(d, { adapterInfo: this.adapterInfo, wgslFeatures: opts.wgslFeatures })) : [];
    this.timestamps = opts.profile && this.features.timestamps ? new Profiler(device) : undefined;
    this.profiling = this.timestamps !== undefined;
    device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
    });
    device.addEventListener('uncapturederror', (e) => {
      this.errors.push((e as GPUUncapturedErrorEvent).error.message);
    });
  }

  /** The per-dispatch timer while profiling, else undefined. */
  get profiler(): Profiler | undefined {
    return this.profiling ? this.timestamps : undefined;
  }

  /** Why the device was lost ("reason: message"), or undefined while it works. */
  get lost(): string | undefined {
    return this.lostReason;
  }

  /** Throws if the device was lost or reported an error since the last check. */
  check(): void {
    if (this.lostReason !== undefined) throw new GpuError(`GPU device lost (${this.lostReason})`);
    if (this.errors.length) {
      const msg = this.errors.join('\n');
      this.errors = [];
      throw new GpuError(`GPU error: ${msg}`);
    }
  }

  /** Compiles (once) the pipeline for a kernel definition; WGSL errors are thrown with the kernel's name. */
  kernel(def: KernelDef): Kernel {
    const entry = this.kernels.get(def.name);
    if (entry && entry instanceof Map === (typeof def.code === 'function')) throw new Error(`kernel ${def.name}: given both as generated and as fixed source`);
    const cached = typeof def.code === 'function' ? (entry as Kernel | undefined) : (entry as Map<string, Kernel> | undefined)?.get(def.code);
    if (cached) return cached;
    const code = typeof def.code === 'function' ? def.code() : def.code;
    const device = this.device;
    const t0 = performance.now();
    device.pushErrorScope('validation');
    const layout = device.createBindGroupLayout({
      label: def.name,
      entries: def.bindings.map((b, i) => layoutEntry(b, i)),
    });
    const module = device.createShaderModule({ label: def.name, code });
    const descriptor: GPUComputePipelineDescriptor = {
      label: def.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout, this.uniforms.layout] }),
      compute: { module, entryPoint: def.entryPoint ?? 'main' },
    };
    const k: Kernel = { def, layout, createMs: 0 };
    const failed = (msg: string) => this.errors.push((k.failed = `kernel ${def.name}: ${msg}`));
    if (!this.compileEach && (this.createAsync || (this.recording > 0 && this.asyncCreate))) {
      // A GPU driver compiles in pipeline creation: what a recording makes compiles on Dawn's
      // workers, all at once, while this thread records on (compile() waits for them).
      const done = device.createComputePipelineAsync(descriptor).then(
        (pipeline) => void (k.pipeline ??= pipeline),
        (e: Error) => void failed(e.message),
      ).finally(() => {
        k.creating = undefined;
        k.createMs = performance.now() - t0;
      });
      k.creating = { descriptor, done };
    } else {
      k.pipeline = device.createComputePipeline(descriptor);
      k.createMs = performance.now() - t0;
    }
    // Validation errors surface asynchronously; kernels are built at setup, so check them then.
    void device.popErrorScope().then((err) => {
      if (err) failed(err.message);
    });
    this.uncompiled.add(k);
    if (typeof def.code === 'function') this.kernels.set(def.name, k);
    else {
      const bySource = (entry as Map<string, Kernel> | undefined) ?? new Map<string, Kernel>();
      bySource.set(def.code, k);
      this.kernels.set(def.name, bySource);
    }
    return k;
  }

  /** Bind groups are cached by buffer identity and range, so a static buffer plan builds each one once. */
  bindGroup(kernel: Kernel, bindings: Binding[]): GPUBindGroup {
    if (bindings.length !== kernel.def.bindings.length) {
      throw new GpuError(`${kernel.def.name}: expected ${kernel.def.bindings.length} bindings, got ${bindings.length}`);
    }
    const entries: GPUBindGroupEntry[] = [];
    let key = kernel.def.name;
    bindings.forEach((b, i) => {
      const kind = kernel.def.bindings[i]!;
      if (kind === 'texture' || kind === 'storage-texture') {
        const view = b as GPUTextureView;
        key += `|${resourceId(view)}:`;
        entries.push({ binding: i, resource: view });
        return;
      }
      const bb = b as BufferBinding;
      const buffer = 'buffer' in bb ? bb.buffer : bb;
      const offset = 'buffer' in bb ? (bb.offset ?? 0) : 0;
      const size = 'buffer' in bb ? (bb.size ?? buffer.size - offset) : buffer.size;
      key += `|${resourceId(buffer)}:${offset}:${size}`;
      entries.push({ binding: i, resource: { buffer, offset, size } });
    });
    let bg = this.bindGroups.get(key);
    if (!bg) {
      bg = this.device.createBindGroup({ layout: kernel.layout, entries });
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

  /** Forget cached bind groups that name a buffer (or texture view) about to be destroyed. */
  forgetBuffer(buffer: GPUBuffer | GPUTextureView): void {
    const tag = `|${resourceId(buffer)}:`;
    for (const k of this.bindGroups.keys()) if (k.includes(tag)) this.bindGroups.delete(k);
  }

  /**
   * The device's scratch buffer named `label`, at least `bytes` long, shared by every dispatch that
   * asks for it (dispatches are ordered, so the kernels of a step can reuse one). It grows with the
   * largest request; the old one is dropped, not destroyed: dispatches not yet submitted and
   * recordings may still bind it (it is freed with them).
   */
  scratch(label: string, bytes: number, usage?: GPUBufferUsageFlags): GPUBuffer {
    const old = this.scratches.get(label);
    if (old && old.size >= bytes) return old;
    if (old) this.forgetBuffer(old);
    const b = this.buffer(bytes, label, usage);
    this.scratches.set(label, b);
    return b;
  }

  buffer(size: number, label: string, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST): GPUBuffer {
    this.check();
    return this.device.createBuffer({ label, size: Math.max(4, Math.ceil(size / 4) * 4), usage });
  }

  /** A storage buffer holding `data` (padded to 4 bytes). */
  upload(data: ArrayBufferView, label: string): GPUBuffer {
    const buf = this.buffer(data.byteLength, label);
    this.write(buf, data);
    return buf;
  }

  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const whole = bytes.byteLength & ~3;
    if (whole) this.device.queue.writeBuffer(buffer, offset, bytes, 0, whole);
    if (whole !== bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(buffer, offset + whole, tail);
    }
  }

  step(label: string): Step {
    this.check();
    return new Step(this, label);
  }

  /** Runs `build` on a step that only collects its dispatches and copies, for `Step.replay`. */
  record(label: string, build: (step: Step) => void): Recording {
    const commands: Command[] = [];
    this.recording++;
    try {
      build(new Step(this, label, commands));
    } finally {
      this.recording--;
    }
    return new Recording(label, commands);
  }

  /** k's pipeline; one still being created on Dawn's workers is made here and now (the same pipeline, compiled twice at worst). */
  pipelineOf(k: Kernel): GPUComputePipeline {
    if (k.pipeline) return k.pipeline;
    if (!k.creating) throw new GpuError(`GPU error: ${k.failed ?? `kernel ${k.def.name}: no pipeline`}`);
    return (k.pipeline = this.device.createComputePipeline(k.creating.descriptor));
  }

  /**
   * Compiles every pipeline the recordings use that has not run yet, and waits for it: one
   * dispatch of zero workgroups each (indirect, so that Dawn does not warn), which makes lavapipe
   * compile it without running anything. Work timed afterwards is then the work itself, and the
   * compile time is counted in `compiled`. On a GPU, pipelines compile in createComputePipeline.
   *
   * lavapipe compiles on its device's queue thread, one pipeline at a time. With compile helpers
   * (more devices on the same adapter, each with its own queue thread) this device compiles the
   * pipelines in order while a helper compiles them from the last one back: wherever one device
   * comes to a pipeline the other has compiled, Mesa's shader cache hands it over in milliseconds.
   * Both run without this thread (the caller may parse a tokenizer meanwhile), and the work splits
   * where they meet, however unequal the pipelines are. README command 1: see bench/README.md.
   */
  async compile(recordings: readonly Recording[]): Promise<CompileStats> {
    const todo = this.uncompiledIn(recordings);
    if (todo.size === 0) return { pipelines: 0, ms: 0 };
    const t0 = performance.now();
    const creating = creations([...todo.keys()]);
    if (creating.length) await this.settle(undefined, () => Promise.all(creating));
    this.check();
    if (this.compileEach) {
      for (const entry of todo) {
        const t = performance.now();
        await this.compileHere([entry]);
        entry[0].compileMs = performance.now() - t;
      }
      return this.countCompiled(todo.size, t0);
    }
    // Everything is submitted before anything is awaited: it compiles while the caller's thread is busy.
    const here = this.compileHere([...todo]);
    const defs = [...todo.keys()].map((k) => k.def).reverse();
    // A helper that fails costs nothing but its help: this device compiles everything anyway.
    const helped = todo.size < MIN_HELPED_COMPILE ? [] : this.helpers.map((h) => h.compileDetached(defs).catch(() => {}));
    // Past the meeting point a helper only reads the cache: waiting for it costs little.
    await Promise.all([here, ...helped]);
    return this.countCompiled(todo.size, t0);
  }

  /**
   * Compiles the pipelines `build` records without this thread or this device's queue, for a model
   * whose weights are still streaming through them: they are created on Dawn's worker threads
   * (where a GPU's driver compiles), and on a CPU adapter, which compiles at a pipeline's first
   * dispatch, on the compile helpers (theirs created on Dawn's workers too) into Mesa's shader
   * cache, where compile() then finds them. The helpers take them from the last one back, as in
   * compile(). Counts what was compiled (nothing on a CPU adapter without helpers); errors are left
   * to compile(). README command 1 and a 3B load with empty caches: bench/README.md, Cold start.
   */
  async compileAhead(build: (step: Step) => void): Promise<CompileStats> {
    const t0 = performance.now();
    this.createAsync = true;
    let todo: Kernel[];
    try {
      todo = [...this.uncompiledIn([this.record('compile ahead', build)]).keys()];
    } finally {
      this.createAsync = false;
    }
    await this.quietly(Promise.all(creations(todo)));
    const defs = todo.map((k) => k.def).reverse();
    await Promise.all(this.helpers.map((h) => h.compileDetached(defs, true).catch(() => {})));
    const pipelines = !this.cpuAdapter || this.helpers.length > 0 ? todo.length : 0;
    return { pipelines, ms: pipelines ? performance.now() - t0 : 0 };
  }

  /** The kernels these recordings dispatch that have not run yet, with a bind group of each. */
  private uncompiledIn(recordings: readonly Recording[]): Map<Kernel, GPUBindGroup> {
    const todo = new Map<Kernel, GPUBindGroup>();
    for (const r of recordings) {
      for (const c of r.commands) if ('kernel' in c && this.uncompiled.has(c.kernel) && !todo.has(c.kernel)) todo.set(c.kernel, c.bindGroup);
    }
    return todo;
  }

  private countCompiled(pipelines: number, t0: number): CompileStats {
    const done = { pipelines, ms: performance.now() - t0 };
    this.compiled.pipelines += done.pipelines;
    this.compiled.ms += done.ms;
    return done;
  }

  /** Every pipeline made on this device so far, in the order they were made, with its build times. */
  pipelineTimes(): PipelineTime[] {
    const all = [...this.kernels.values()].flatMap((e) => (e instanceof Map ? [...e.values()] : [e]));
    return all.map((k) => ({ name: k.def.name, createMs: k.createMs, ...(k.compileMs === undefined ? {} : { compileMs: k.compileMs }) }));
  }

  /** Dispatches each kernel once with zero workgroups and waits: lavapipe compiles them (or reads its shader cache). */
  private async compileHere(kernels: [Kernel, GPUBindGroup][]): Promise<void> {
    // WebGPU zero-initialises a new buffer: 0 × 0 × 0 workgroups.
    this.zeroGroups ??= this.device.createBuffer({ label: 'zero workgroups', size: 12, usage: GPUBufferUsage.INDIRECT });
    const enc = this.device.createCommandEncoder({ label: 'compile' });
    const pass = enc.beginComputePass();
    const slot = this.uniforms.take(undefined);
    for (const [k, bindGroup] of kernels) {
      pass.setPipeline(this.pipelineOf(k));
      pass.setBindGroup(0, bindGroup);
      pass.setBindGroup(1, this.uniforms.bindGroup, [slot]);
      pass.dispatchWorkgroupsIndirect(this.zeroGroups, 0);
      this.uncompiled.delete(k);
    }
    pass.end();
    this.uniforms.upload();
    this.device.queue.submit([enc.finish()]);
    await this.settle(undefined, () => this.device.queue.onSubmittedWorkDone());
  }

  /**
   * On a compile helper: compiles these kernels' pipelines, bound to placeholder resources (the
   * shader and layout, not the resources, make a pipeline), and waits for them. `createAsync`: on
   * Dawn's workers (compileAhead: this thread streams weights meanwhile).
   */
  private async compileDetached(defs: KernelDef[], createAsync = false): Promise<void> {
    this.createAsync = createAsync;
    let kernels: [Kernel, GPUBindGroup][];
    try {
      kernels = defs.map((def): [Kernel, GPUBindGroup] => {
        const k = this.kernel(def);
        const entries = def.bindings.map((kind, i) => ({ binding: i, resource: this.placeholder(kind, i) }));
        return [k, this.device.createBindGroup({ layout: k.layout, entries })];
      });
    } finally {
      this.createAsync = false;
    }
    await this.quietly(Promise.all(creations(kernels.map(([k]) => k))));
    const todo = kernels.filter(([k]) => this.uncompiled.has(k));
    await this.compileHere(todo);
    this.check();
    this.compiled.pipelines += todo.length;
  }

  /** A resource for binding i of this kind: 64 KiB buffers (the largest fixed-size array a kernel declares), a 1×1 texture. */
  private placeholder(kind: Storage, i: number): GPUBufferBinding | GPUTextureView {
    const key = `${kind} ${i}`;
    let r = this.placeholders.get(key);
    if (!r) {
      if (kind === 'texture' || kind === 'storage-texture') {
        r = this.device.createTexture({ label: key, size: [1, 1, 1], format: 'rgba32uint', usage: GPUTextureUsage.STORAGE_BINDING }).createView({ dimension: '2d-array' });
      } else {
        r = { buffer: this.device.createBuffer({ label: key, size: 65536, usage: kind === 'uniform' ? GPUBufferUsage.UNIFORM : GPUBufferUsage.STORAGE }) };
      }
      this.placeholders.set(key, r);
    }
    return r;
  }

  /** Called by steps for every dispatch they encode: the first one of a kernel not compiled yet compiles it. */
  noteDispatch(k: Kernel): void {
    if (!this.uncompiled.delete(k)) return;
    this.coldWork = true;
    this.compiledOnDispatch++;
  }

  /**
   * Waits for submitted work without letting Dawn-node busy-poll a core the whole time (on a CPU
   * adapter that core is half the machine): sleep for most of the expected time, then await — on a
   * CPU adapter with a 1 ms poll (quiet-wait.ts), which a GPU's sub-millisecond steps cannot afford. The
   * expectation is the time this labelled work took last time (wait-estimates.ts), or for new work its FLOPs at the
   * best rate seen so far (an underestimate: sleeping too long would cost latency, too short only
   * some polling). Unlabelled work without FLOPs is awaited directly.
   */
  async settle<T>(label: string | undefined, promise: () => Promise<T>, flops = 0): Promise<T> {
    const t0 = performance.now();
    const known = label === undefined ? undefined : this.waitEstimates.expected(label, flops);
    const expected = known ?? (this.cpuAdapter ? this.waitEstimates.byRate(flops) : 0);
    const slept = expected > 2;
    if (slept) await sleep(expected * 0.9 - 1);
    const t1 = performance.now();
    const lost = this.device.lost.then((info) => {
      throw new GpuError(`GPU device lost while waiting for ${label ?? 'GPU work'} (${info.reason}: ${info.message})`);
    });
    const race = Promise.race([promise(), lost]);
    const value = await this.quietly(race);
    const t2 = performance.now();
    // Work that was (about) done when the sleep ended took an unknown, shorter time: guess lower
    // next time, or the estimate would feed on its own sleeps. Otherwise t2 − t0 is the real time.
    const overslept = slept && t2 - t1 < Math.max(2, 0.05 * expected);
    const took = overslept ? 0.7 * expected : t2 - t0;
    // Work that compiled pipelines took their compile time too: learning from it would make the
    // next (warm) wait sleep for it: the H200 run's first token came 535 and 375 ms after vision +
    // prefill in its 2nd and 3rd runs, the 0.7× a run decay of an estimate that learnt the 1st run's compile.
    const cold = this.coldWork;
    this.coldWork = false;
    if (label !== undefined && !cold) this.waitEstimates.learn(label, flops, took);
    if (!overslept && !cold) this.waitEstimates.learnRate(flops, took);
    this.check();
    return value;
  }

  /** `p`, awaited on a CPU adapter without Dawn-node's polling spinning a core the adapter computes on (quiet-wait.ts). */
  private quietly<T>(p: Promise<T>): Promise<T> {
    return this.cpuAdapter ? quietly(p) : p;
  }

  /** Waits until all submitted work is done. */
  finish(label?: string, flops = 0): Promise<void> {
    return this.settle(label, () => this.device.queue.onSubmittedWorkDone(), flops);
  }

  /** Copies a buffer range to a pooled MAP_READ buffer and returns the bytes. */
  async read(src: GPUBuffer, offset = 0, size = src.size - offset, label?: string, flops = 0): Promise<ArrayBuffer> {
    this.check();
    const padded = Math.ceil(size / 4) * 4;
    const i = this.readPool.findIndex((b) => b.size >= padded);
    const staging =
      i >= 0
        ? this.readPool.splice(i, 1)[0]!
        : this.device.createBuffer({ label: 'readback', size: Math.max(256, padded), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, offset, staging, 0, padded);
    this.device.queue.submit([enc.finish()]);
    await this.settle(label, () => staging.mapAsync(GPUMapMode.READ, 0, padded), flops);
    const out = staging.getMappedRange(0, padded).slice(0, size);
    staging.unmap();
    this.readPool.push(staging);
    return out;
  }

  async readF32(src: GPUBuffer, offset = 0, count?: number, label?: string, flops = 0): Promise<Float32Array> {
    const size = count === undefined ? src.size - offset : count * 4;
    return new Float32Array(await this.read(src, offset, size, label, flops));
  }

  /**
   * Frees this layer's own buffers, and the compile helpers' devices (made for it alone, each with
   * its threads); the device itself stays the caller's to destroy.
   */
  destroy(): void {
    this.zeroGroups?.destroy();
    for (const b of this.readPool) b.destroy();
    this.readPool.length = 0;
    this.bindGroups.clear();
    this.uniforms.destroy();
    this.timestamps?.destroy();
    for (const h of this.helpers) {
      h.destroy();
      h.device.destroy();
    }
  }
}

/** One recorded command of a Recording: a dispatch with its bind group resolved, or a copy. */
export type Command =
  | { kernel: Kernel; bindGroup: GPUBindGroup; params: ArrayBuffer | undefined; groups: [number, number, number]; label: string }
  | { copy: [GPUBuffer, number, GPUBuffer, number, number] }
  | { toTexture: [GPUBuffer, number, number, GPUTexture, number, number, number?, number?] };

/**
 * A step recorded once (`Gpu.record`) and replayed many times (`Step.replay`): the same dispatches
 * with the same buffers and params, looked up and validated once. A decode step is the same work
 * every token (what changes — positions, cache length — lives in GPU buffers), and on a fast GPU
 * building it from the graph each time costs more CPU than the GPU spends running it.
 */
export class Recording {
  constructor(readonly label: string, readonly commands: readonly Command[]) {}
}

/**
 * One step of work (a layer, a prefill, a decode token): dispatches are recorded into a command
 * encoder and submitted every DISPATCHES_PER_SUBMIT, each with its own uniform slot.
 */
export class Step {
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private pending = 0;

  /** With `commands`, nothing is encoded: the step only collects what it would have run. */
  constructor(readonly gpu: Gpu, readonly label: string, private readonly commands?: Command[]) {}

  /**
   * Records one dispatch. `params` is the kernel's uniform struct as 32-bit words (u32/i32/f32
   * written with the `params()` helper); `groups` is the workgroup count in x, y, z.
   */
  dispatch(kernel: Kernel, bindings: Binding[], params: ArrayBuffer | undefined, groups: [number, number?, number?], label?: string): void {
    const [x, y = 1, z = 1] = groups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new GpuError(`${kernel.def.name}: ${x}×${y}×${z} workgroups exceed the device limit ${max} per dimension`);
    }
    const command = { kernel, bindGroup: this.gpu.bindGroup(kernel, bindings), params, groups: [x, y, z] as [number, number, number], label: label ?? kernel.def.name };
    if (this.commands) this.commands.push(command);
    else this.encode(command);
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    if (this.commands) {
      this.commands.push({ copy: [src, srcOffset, dst, dstOffset, size] });
      return;
    }
    this.encodeCopy('copy', (e) => e.copyBufferToBuffer(src, srcOffset, dst, dstOffset, size));
  }

  /**
   * Copies `height` rows of `width` 16-byte texels, `bytesPerRow` apart in src from srcOffset
   * (multiples of 256 and 16), into an rgba32 texture from row `y` of layer `layer` on.
   */
  copyToTexture(src: GPUBuffer, srcOffset: number, bytesPerRow: number, dst: GPUTexture, width: number, height: number, y = 0, layer = 0): void {
    if (this.commands) {
      this.commands.push({ toTexture: [src, srcOffset, bytesPerRow, dst, width, height, y, layer] });
      return;
    }
    this.encodeCopy('copy-to-texture', (e) => e.copyBufferToTexture({ buffer: src, offset: srcOffset, bytesPerRow, rowsPerImage: height }, { texture: dst, origin: { x: 0, y, z: layer } }, { width, height, depthOrArrayLayers: 1 }));
  }

  /** A copy between passes; while profiling, timed as its own entry (it then counts towards a submit like a dispatch). */
  private encodeCopy(label: string, encode: (e: GPUCommandEncoder) => void): void {
    this.endPass();
    const encoder = (this.encoder ??= this.gpu.device.createCommandEncoder({ label: this.label }));
    const profiler = this.gpu.profiler;
    if (!profiler) return encode(encoder);
    profiler.copy(encoder, label, () => encode(encoder));
    if (++this.pending >= DISPATCHES_PER_SUBMIT) this.flush();
  }

  /** Encodes what a Recording holds, in order. */
  replay(r: Recording): void {
    for (const c of r.commands) {
      if ('copy' in c) this.copy(...c.copy);
      else if ('toTexture' in c) this.copyToTexture(...c.toTexture);
      else if (this.commands) this.commands.push(c);
      else this.encode(c);
    }
  }

  private encode(c: Extract<Command, { kernel: Kernel }>): void {
    const slot = this.gpu.uniforms.take(c.params);
    const profiler = this.gpu.profiler;
    this.encoder ??= this.gpu.device.createCommandEncoder({ label: this.label });
    if (profiler) {
      this.endPass();
      this.pass = this.encoder.beginComputePass({ timestampWrites: profiler.next(c.label) });
    } else if (!this.pass) {
      this.pass = this.encoder.beginComputePass();
    }
    const pass = this.pass;
    this.gpu.noteDispatch(c.kernel);
    pass.setPipeline(this.gpu.pipelineOf(c.kernel));
    pass.setBindGroup(0, c.bindGroup);
    pass.setBindGroup(1, this.gpu.uniforms.bindGroup, [slot]);
    pass.dispatchWorkgroups(...c.groups);
    if (profiler) this.endPass();
    if (++this.pending >= DISPATCHES_PER_SUBMIT || this.gpu.uniforms.nearlyFull()) this.flush();
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  /** Submits what was recorded so far; the step can go on recording. */
  flush(): void {
    if (this.commands || !this.encoder) return;
    this.endPass();
    this.gpu.profiler?.resolve(this.encoder);
    this.gpu.uniforms.upload();
    this.gpu.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    this.pending = 0;
  }

  /** Submits the rest. Call `gpu.finish()` / `gpu.read()` to wait. */
  end(): void {
    this.flush();
  }
}

export type { KernelTiming };
