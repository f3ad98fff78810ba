// Per-dispatch kernel parameters live in one uniform buffer, one 256-byte slot per dispatch, bound
// with a dynamic offset. Slots are written with queue.writeBuffer just before the command buffer
// that reads them is submitted; queue order then guarantees that a slot reused later is never
// overwritten while an earlier, already submitted dispatch still has to read it.

const SLOT = 256;
const SLOTS = 4096;

export class UniformArena {
  readonly buffer: GPUBuffer;
  readonly layout: GPUBindGroupLayout;
  readonly bindGroup: GPUBindGroup;
  private readonly mirror = new Uint8Array(SLOT * SLOTS);
  private next = 0;
  private dirtyFrom = 0;
  private dirtyCount = 0;

  constructor(private readonly device: GPUDevice) {
    this.buffer = device.createBuffer({ label: 'uniform arena', size: SLOT * SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.layout = device.createBindGroupLayout({
      label: 'uniform arena',
      entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: 0 } }],
    });
    this.bindGroup = device.createBindGroup({ layout: this.layout, entries: [{ binding: 0, resource: { buffer: this.buffer, offset: 0, size: SLOT } }] });
  }

  /** Stores params in the next slot and returns its byte offset. */
  take(params: ArrayBuffer | undefined): number {
    const slot = this.next;
    this.next = (this.next + 1) % SLOTS;
    if (this.dirtyCount === 0) this.dirtyFrom = slot;
    this.dirtyCount++;
    if (params) {
      if (params.byteLength > SLOT) throw new Error(`kernel params of ${params.byteLength} bytes exceed the ${SLOT}-byte slot`);
      this.mirror.set(new Uint8Array(params), slot * SLOT);
    }
    return slot * SLOT;
  }

  /** True when the slots taken since the last upload are about to wrap onto themselves. */
  nearlyFull(): boolean {
    return this.dirtyCount >= SLOTS - 1;
  }

  upload(): void {
    if (this.dirtyCount === 0) return;
    const first = Math.min(this.dirtyCount, SLOTS - this.dirtyFrom);
    this.device.queue.writeBuffer(this.buffer, this.dirtyFrom * SLOT, this.mirror, this.dirtyFrom * SLOT, first * SLOT);
    if (first < this.dirtyCount) this.device.queue.writeBuffer(this.buffer, 0, this.mirror, 0, (this.dirtyCount - first) * SLOT);
    this.dirtyCount = 0;
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

/** Packs a kernel's uniform struct: every field a 4-byte scalar, in declaration order. */
export function params(fields: Record<string, number>, types: Record<string, 'u32' | 'i32' | 'f32'>): ArrayBuffer {
  const names = Object.keys(types);
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((names.length * 4) / 16) * 16));
  const view = new DataView(buf);
  names.forEach((name, i) => {
    const v = fields[name];
    if (v === undefined) throw new Error(`missing kernel param ${name}`);
    const t = types[name];
    if (t === 'f32') view.setFloat32(i * 4, v, true);
    else if (t === 'i32') view.setInt32(i * 4, v, true);
    else {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`kernel param ${name}=${v} is not a u32`);
      view.setUint32(i * 4, v, true);
    }
  });
  return buf;
}

/** The WGSL declaration matching `params(…, types)`, bound where every kernel expects it. */
export function paramsWgsl(types: Record<string, 'u32' | 'i32' | 'f32'>): string {
  const fields = Object.entries(types).map(([n, t]) => `${n}: ${t},`).join(' ');
  return `struct Params { ${fields} }\n@group(1) @binding(0) var<uniform> p: Params;\n`;
}
