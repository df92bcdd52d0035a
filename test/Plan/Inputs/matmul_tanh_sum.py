"""Writes y = ReduceSum(Tanh(x @ w)), x float 4x16, w a float 16x8 initializer:
small enough that report.test's byte counts can be worked out by hand."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

weight = numpy_helper.from_array(np.arange(16 * 8, dtype=np.float32).reshape(16, 8) / 128, "w")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Tanh", ["xw"], ["t"]),
     helper.make_node("ReduceSum", ["t"], ["y"], keepdims=0)],
    "matmul_tanh_sum", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])], [weight])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
