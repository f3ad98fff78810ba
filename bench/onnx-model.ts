// A one-node ONNX model (y = a · b with b a constant initializer), written as protobuf bytes by hand:
// no onnx package exists for Node, and onnxruntime-node accepts a model as a Uint8Array.
// Field numbers are those of onnx/onnx.proto3 (ModelProto, GraphProto, NodeProto, TensorProto,
// ValueInfoProto, TypeProto, TensorShapeProto).

const FLOAT = 1; // TensorProto.DataType.FLOAT

class Proto {
  private parts: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }

  private varint(v: number): void {
    const out: number[] = [];
    while (v >= 0x80) {
      out.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    out.push(v);
    this.push(Uint8Array.from(out));
  }

  /** A varint field (wire type 0): int32, int64, enums. */
  int(field: number, v: number): this {
    this.varint(field * 8);
    this.varint(v);
    return this;
  }

  /** A length-delimited field (wire type 2): strings, bytes, sub-messages. */
  bytes(field: number, b: Uint8Array): this {
    this.varint(field * 8 + 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  msg(field: number, m: Proto): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function valueInfo(name: string, dims: number[]): Proto {
  const shape = new Proto();
  for (const d of dims) shape.msg(1, new Proto().int(1, d)); // dim { dim_value }
  const tensorType = new Proto().int(1, FLOAT).msg(2, shape); // elem_type, shape
  return new Proto().str(1, name).msg(2, new Proto().msg(1, tensorType)); // name, type { tensor_type }
}

/** y[M, N] = a[M, K] · b[K, N]; `b` (K·N floats, row-major) is stored in the model as an initializer. */
export function matmulModel(M: number, K: number, N: number, b: Float32Array): Uint8Array {
  if (b.length !== K * N) throw new Error(`matmulModel: b has ${b.length} floats, expected ${K * N}`);
  const init = new Proto().int(1, K).int(1, N).int(2, FLOAT).str(8, 'b').bytes(9, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  const node = new Proto().str(1, 'a').str(1, 'b').str(2, 'y').str(3, 'matmul').str(4, 'MatMul');
  const graph = new Proto().msg(1, node).str(2, 'bench').msg(5, init).msg(11, valueInfo('a', [M, K])).msg(12, valueInfo('y', [M, N]));
  return new Proto()
    .int(1, 8) // ir_version
    .msg(8, new Proto().str(1, '').int(2, 17)) // opset_import: default domain, opset 17
    .msg(7, graph)
    .finish();
}
