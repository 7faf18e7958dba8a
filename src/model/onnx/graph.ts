/**
 * A small builder of ONNX graphs over the protobuf types of `onnx-proto`: named inputs
 * and outputs, constants as initializers, and nodes whose outputs get fresh names. The
 * result is a serialised ModelProto that ONNX Runtime loads from memory.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** The ONNX operator set the graphs are written against (every Reduce* takes its axes as an input). */
export const OPSET = 18;
/** ONNX IR version 8 (onnx 1.10), the newest that onnx-proto's schema describes. */
export const IR_VERSION = 8;

export type ElementType = 'float32' | 'int64' | 'float16' | 'int8' | 'uint8';
/** A dimension: a size, or a name for a size given at run time (the batch). */
export type Dim = number | string;
export type AttributeValue = number | readonly number[] | string | { readonly float: number };

const ELEMENT_TYPES: Readonly<Record<ElementType, number>> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
};

/** Values of a raw initializer: float32, float16 (as its bits), int8 or int64. */
export type RawTensorData = Float32Array | Uint16Array | Int8Array | BigInt64Array;

/** The element type of an ONNX TensorProto.DataType code, if lemopt uses it. */
export function elementTypeOf(code: number): ElementType | undefined {
  return (Object.keys(ELEMENT_TYPES) as ElementType[]).find((type) => ELEMENT_TYPES[type] === code);
}

export interface ValueInfo {
  readonly name: string;
  readonly type: ElementType;
  readonly shape: readonly Dim[];
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A graph input; returns its name. */
  input(name: string, shape: readonly Dim[], type: ElementType = 'float32'): string {
    this.claim(name);
    this.inputs.push({ name, type, shape });
    return name;
  }

  /**
   * Makes `value` a graph output called `name`. A node output is renamed in place when it
   * is not an output yet (no copy); a graph input or another output goes through Identity.
   */
  output(name: string, value: string, shape: readonly Dim[], type: ElementType = 'float32'): string {
    const producer = this.nodes.find((node) => node.output?.includes(value));
    const isOutput = this.outputs.some((output) => output.name === value);
    if (producer && !isOutput && !this.names.has(name)) {
      this.claim(name);
      this.rename(value, name);
    } else {
      this.op('Identity', [value], {}, name);
    }
    this.outputs.push({ name, type, shape });
    return name;
  }

  /** A float32 constant (scalar when `dims` is empty), shared by every node that uses the same values. */
  constant(
    values: number | ArrayLike<number>,
    dims: readonly number[] = [],
    type: 'float32' | 'int64' = 'float32',
  ): string {
    const data = typeof values === 'number' ? [values] : Array.from(values);
    const key = `${type}:${dims.join('x')}:${data.join(',')}`;
    const known = this.constants.get(key);
    if (known !== undefined) return known;
    const name = this.fresh('const');
    this.initializers.push(
      type === 'float32'
        ? { name, dataType: ELEMENT_TYPES.float32, dims: [...dims], floatData: data }
        : { name, dataType: ELEMENT_TYPES.int64, dims: [...dims], int64Data: data },
    );
    this.constants.set(key, name);
    return name;
  }

  /**
   * A named initializer holding `data` as raw little-endian bytes (large tensors: tables,
   * weights); `data`'s element type must be `type`'s. Returns its name.
   */
  initializer(name: string, type: ElementType, dims: readonly number[], data: RawTensorData): string {
    const expected = dims.reduce((product, dim) => product * dim, 1);
    if (data.length !== expected)
      throw new Error(`initializer '${name}' has ${data.length} values for shape [${dims.join(', ')}]`);
    this.claim(name);
    const rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name, dataType: ELEMENT_TYPES[type], dims: [...dims], rawData });
    return name;
  }

  /** A constant int64 vector of axes (for Reduce*, Unsqueeze, Squeeze). */
  axes(...axes: number[]): string {
    return this.constant(axes, [axes.length], 'int64');
  }

  /** Adds a node; returns the name of its (first) output. */
  op(
    type: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    output?: string,
  ): string {
    const name = output ?? this.fresh(type.toLowerCase());
    if (output !== undefined) this.claim(output);
    this.nodes.push({
      opType: type,
      input: [...inputs],
      output: [name],
      name: `${type}_${this.nodes.length}`,
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
    return name;
  }

  /** The graph's inputs and outputs as declared so far. */
  get signature(): { readonly inputs: readonly ValueInfo[]; readonly outputs: readonly ValueInfo[] } {
    return { inputs: [...this.inputs], outputs: [...this.outputs] };
  }

  /** The model, serialised. */
  encode(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'lemopt',
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`ONNX graph '${this.name}': the name '${name}' is used twice`);
    this.names.add(name);
  }

  private rename(from: string, to: string): void {
    for (const node of this.nodes) {
      node.input = node.input?.map((input) => (input === from ? to : input));
      node.output = node.output?.map((output) => (output === from ? to : output));
    }
  }
}

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const Type = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: Type.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: Type.INT, i: value };
  if ('float' in value) return { name, type: Type.FLOAT, f: value.float };
  return { name, type: Type.INTS, ints: [...value] };
}

function valueInfo({ name, type, shape }: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEMENT_TYPES[type],
        shape: { dim: shape.map((dim) => (typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim })) },
      },
    },
  };
}
