# Unary math ops, one graph op each, keeping shape and element type.
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

ops = ["Sqrt", "Reciprocal", "Neg", "Exp", "Log", "Tanh", "Sigmoid", "Erf", "Cos",
       "Sin", "Abs", "Relu"]
nodes = [node(op, ["x"], [op.lower()]) for op in ops]
nodes.append(node("Gelu", ["x"], ["gelu"]))
nodes.append(node("Gelu", ["x"], ["gelu_tanh"], approximate="tanh"))
nodes.append(node("Neg", ["i"], ["ineg"]))
nodes.append(node("Abs", ["h"], ["habs"]))
save(nodes, inputs=[("x", "f32", ["batch", 8]), ("i", "i32", [3]), ("h", "f16", [2, "n"])],
     outputs=[op.lower() for op in ops] + ["gelu", "gelu_tanh", "ineg", "habs"], opset=20)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x8xf32>
# CHECK-SAME: %[[I:[a-z0-9]+]]: tensor<3xi32>
# CHECK-SAME: %[[H:[a-z0-9]+]]: tensor<2x?xf16>
# CHECK: %[[SQRT:.*]] = graph.sqrt %[[X]] : tensor<?x8xf32>
# CHECK: %[[RECIPROCAL:.*]] = graph.reciprocal %[[X]] : tensor<?x8xf32>
# CHECK: %[[NEG:.*]] = graph.neg %[[X]] : tensor<?x8xf32>
# CHECK: %[[EXP:.*]] = graph.exp %[[X]] : tensor<?x8xf32>
# CHECK: %[[LOG:.*]] = graph.log %[[X]] : tensor<?x8xf32>
# CHECK: %[[TANH:.*]] = graph.tanh %[[X]] : tensor<?x8xf32>
# CHECK: %[[SIGMOID:.*]] = graph.sigmoid %[[X]] : tensor<?x8xf32>
# CHECK: %[[ERF:.*]] = graph.erf %[[X]] : tensor<?x8xf32>
# CHECK: %[[COS:.*]] = graph.cos %[[X]] : tensor<?x8xf32>
# CHECK: %[[SIN:.*]] = graph.sin %[[X]] : tensor<?x8xf32>
# CHECK: %[[ABS:.*]] = graph.abs %[[X]] : tensor<?x8xf32>
# CHECK: %[[RELU:.*]] = graph.relu %[[X]] : tensor<?x8xf32>
# Gelu (opset 20): exact by default, tanh approximation on request.
# CHECK: %[[GELU:.*]] = graph.gelu %[[X]] : tensor<?x8xf32>
# CHECK: %[[GELU_TANH:.*]] = graph.gelu %[[X]] {tanh_approximation = true} : tensor<?x8xf32>
# CHECK: %[[INEG:.*]] = graph.neg %[[I]] : tensor<3xi32>
# CHECK: %[[HABS:.*]] = graph.abs %[[H]] : tensor<2x?xf16>
# CHECK: return %[[SQRT]], %[[RECIPROCAL]], %[[NEG]], %[[EXP]], %[[LOG]], %[[TANH]], %[[SIGMOID]], %[[ERF]], %[[COS]], %[[SIN]], %[[ABS]], %[[RELU]], %[[GELU]], %[[GELU_TANH]], %[[INEG]], %[[HABS]] :
