// Writes small tensors (debug dumps, masks) as one safetensors file, header padded to 8 bytes like the
// reference writer.

import { writeFile } from 'node:fs/promises';

export interface OutTensor {
  name: string;
  shape: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

function dtype(data: OutTensor['data']): string {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  return data instanceof Int32Array ? 'I32' : 'U8';
}

export async function writeSafetensors(path: string, tensors: OutTensor[]): Promise<void> {
  await writeFile(path, safetensorsBytes(tensors));
}

/** The bytes of such a file (tensors sorted by name). */
export function safetensorsBytes(tensors: OutTensor[]): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const t of sorted) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`${t.name}: shape [${t.shape}] holds ${count} values, data has ${t.data.length}`);
    header[t.name] = { dtype: dtype(t.data), shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const head = Buffer.from(text, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(head.length));
  const parts = [prefix, head, ...sorted.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))];
  return Buffer.concat(parts);
}
