/**
 * What a serialised ONNX model declares, read back without running it: its opset, its
 * inputs and outputs, and its initializers' names, types and shapes (not their values).
 */
import onnxProto from 'onnx-proto';
import { elementTypeOf, type Dim } from './graph.js';

const { onnx } = onnxProto;

/** An element type by lemopt's name (`float32`, `int64`, ...), or `type <code>` for another one. */
export type TypeName = string;

export interface DeclaredValue {
  readonly name: string;
  readonly type: TypeName;
  readonly shape: readonly Dim[];
}

export interface InitializerInfo {
  readonly name: string;
  readonly type: TypeName;
  readonly dims: readonly number[];
}

export interface ModelInfo {
  readonly opset: number | undefined;
  readonly inputs: readonly DeclaredValue[];
  readonly outputs: readonly DeclaredValue[];
  readonly initializers: readonly InitializerInfo[];
}

/** Throws protobuf's error when the bytes are not a ModelProto. */
export function readModelInfo(bytes: Uint8Array): ModelInfo {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph ?? {};
  const opset = model.opsetImport?.find((entry) => (entry.domain ?? '') === '')?.version;
  return {
    opset: opset === undefined || opset === null ? undefined : Number(opset),
    inputs: (graph.input ?? []).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
    initializers: (graph.initializer ?? []).map((tensor) => ({
      name: tensor.name ?? '',
      type: typeName(tensor.dataType ?? 0),
      dims: (tensor.dims ?? []).map(Number),
    })),
  };
}

function typeName(code: number): TypeName {
  return elementTypeOf(code) ?? `type ${code}`;
}

function valueInfo(info: onnxProto.onnx.IValueInfoProto): DeclaredValue {
  const tensor = info.type?.tensorType;
  const shape: Dim[] = (tensor?.shape?.dim ?? []).map((dim) =>
    dim.dimParam ? dim.dimParam : Number(dim.dimValue ?? 0),
  );
  return { name: info.name ?? '', type: typeName(tensor?.elemType ?? 0), shape };
}
