// Minimal, test-only safetensors reader for fixture files (the validated reader
// lives in src/loader). Header: u64 LE length, then JSON {name: {dtype, shape,
// data_offsets}}; data follows the header.
import { readFileSync } from 'node:fs';

export type FixtureTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array }
  | { dtype: 'U8'; shape: number[]; data: Uint8Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array };

export function readSafetensors(path: string): Map<string, FixtureTensor> {
  const file = readFileSync(path);
  const bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const dataStart = 8 + headerLength;
  const out = new Map<string, FixtureTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    // Copy so typed views are aligned regardless of the header length.
    const raw = bytes.slice(dataStart + info.data_offsets[0], dataStart + info.data_offsets[1]);
    if (info.dtype === 'F32') out.set(name, { dtype: 'F32', shape: info.shape, data: new Float32Array(raw.buffer) });
    else if (info.dtype === 'I64') out.set(name, { dtype: 'I64', shape: info.shape, data: new BigInt64Array(raw.buffer) });
    else if (info.dtype === 'U8') out.set(name, { dtype: 'U8', shape: info.shape, data: raw });
    else if (info.dtype === 'I32') out.set(name, { dtype: 'I32', shape: info.shape, data: new Int32Array(raw.buffer) });
  }
  return out;
}

export function tensor<D extends FixtureTensor['dtype']>(
  tensors: Map<string, FixtureTensor>,
  name: string,
  dtype: D,
): Extract<FixtureTensor, { dtype: D }> {
  const t = tensors.get(name);
  if (!t) throw new Error(`fixture tensor ${name} missing`);
  if (t.dtype !== dtype) throw new Error(`fixture tensor ${name} is ${t.dtype}, expected ${dtype}`);
  return t as Extract<FixtureTensor, { dtype: D }>;
}
