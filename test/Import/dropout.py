# Dropout in training mode: graph.dropout with the node's ratio and a site
# per node in node order (so each draws its own mask); the mask output is
# where the same site keeps a tensor of ones; ratio 0 is the input itself.
# An f32 ratio is read as the shortest decimal that rounds to it (0.1f is
# 0.1, as the Python float PyTorch computes its scale from).
# RUN: %python %s %t.onnx
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t.onnx --emit=mlir | sp-opt | FileCheck %s
from onnx_test_builder import *

save([
    node("Dropout", ["x", "ratio", "training"], ["drop", "mask"]),
    node("Dropout", ["drop", "ratio2", "training"], ["drop2"], seed=5),
    node("Dropout", ["drop2", "zero", "training"], ["same"]),
],
    inputs=[("x", "f32", [2, 4])],
    outputs=["drop", "mask", "drop2", "same"],
    initializers=[const("ratio", np.float32(0.1)), const("ratio2", np.float64(0.25)),
                  const("zero", np.float32(0.0)), const("training", True)])

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x4xf32>
# CHECK-DAG: %[[ONES:.*]] = graph.constant dense<1.000000e+00> : tensor<2x4xf32>
# CHECK-DAG: %[[ZERO:.*]] = graph.constant dense<0.000000e+00> : tensor<f32>
# CHECK: %[[DROP:.*]] = graph.dropout %[[X]] {ratio = 1.000000e-01 : f64, site = 0 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
# CHECK: %[[KEPT:.*]] = graph.dropout %[[ONES]] {ratio = 1.000000e-01 : f64, site = 0 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
# CHECK: %[[MASK:.*]] = graph.greater %[[KEPT]], %[[ZERO]] : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xi1>
# CHECK: %[[DROP2:.*]] = graph.dropout %[[DROP]] {ratio = 2.500000e-01 : f64, site = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
# CHECK: return %[[DROP]], %[[MASK]], %[[DROP2]], %[[DROP2]] :
