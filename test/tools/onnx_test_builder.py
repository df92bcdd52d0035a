"""Builds the small ONNX models that the importer's lit tests run on.

A test is a Python file whose RUN line executes it with the output path:

    # RUN: %python %s %t.onnx && sp-compile %t.onnx --emit=mlir | FileCheck %s
    from onnx_test_builder import *
    save([node("Add", ["x", "x"], ["y"])], inputs=[("x", "f32", ["batch", 4])],
         outputs=["y"])
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DTYPES = {
    "f32": TensorProto.FLOAT, "f64": TensorProto.DOUBLE, "f16": TensorProto.FLOAT16,
    "bf16": TensorProto.BFLOAT16, "i64": TensorProto.INT64, "i32": TensorProto.INT32,
    "i8": TensorProto.INT8, "u8": TensorProto.UINT8, "bool": TensorProto.BOOL,
    "str": TensorProto.STRING,
}

__all__ = ["node", "const", "save", "np", "helper", "TensorProto", "numpy_helper", "onnx"]


def node(op_type, inputs, outputs, name=None, domain="", **attrs):
    """One node; `name` defaults to the first output's name."""
    return helper.make_node(op_type, inputs, outputs, name=name or outputs[0],
                            domain=domain, **attrs)


def const(name, value, dtype=None):
    """An initializer from a Python or NumPy value."""
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def save(nodes, inputs, outputs, initializers=(), opset=17, path=None,
         external_data=False, ir_version=8, extra_opsets=(), functions=()):
    """Writes the model to `path` (default: the first command-line argument).
    inputs: (name, dtype, shape) with dims as ints or symbolic names.
    outputs: names, or (name, dtype, shape)."""
    path = path or sys.argv[1]
    graph_inputs = [helper.make_tensor_value_info(name, DTYPES[dtype], shape)
                    for name, dtype, shape in inputs]
    graph_outputs = []
    for output in outputs:
        if isinstance(output, str):
            graph_outputs.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, None))
        else:
            name, dtype, shape = output
            graph_outputs.append(helper.make_tensor_value_info(name, DTYPES[dtype], shape))
    graph = helper.make_graph(nodes, "test", graph_inputs, graph_outputs,
                              list(initializers))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v)
                                                 for d, v in extra_opsets]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=ir_version,
                              functions=list(functions))
    if external_data:
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=path.split("/")[-1] + ".data", size_threshold=0)
    else:
        onnx.save(model, path)
    return model
