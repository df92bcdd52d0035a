# Reductions: ReduceMean with axes as an attribute (opset 17), ReduceSum with
# axes as an input, keepdims, negative axes, all axes, noop_with_empty_axes.
# RUN: %python %s %t.onnx 17
# RUN: sp-compile %t.onnx --emit=mlir | FileCheck %s
# RUN: %python %s %t18.onnx 18
# RUN: sp-compile %t18.onnx --emit=mlir | FileCheck %s
# RUN: sp-compile %t18.onnx --emit=mlir | sp-opt | FileCheck %s
import sys
from onnx_test_builder import *

opset = int(sys.argv[2])
if opset >= 18:
    axes_nodes = [node("ReduceMean", ["x", "last"], ["mean"]),
                  node("ReduceMax", ["x", "first_neg"], ["max"], keepdims=0)]
else:
    axes_nodes = [node("ReduceMean", ["x"], ["mean"], axes=[-1]),
                  node("ReduceMax", ["x"], ["max"], axes=[-3], keepdims=0)]
save(axes_nodes + [
    node("ReduceSum", ["x", "two_axes"], ["sum"], keepdims=0),
    node("ReduceSum", ["x"], ["sum_all"]),
    node("ReduceSum", ["x"], ["sum_noop"], noop_with_empty_axes=1),
    node("ReduceSum", ["i", "last"], ["isum"]),
],
    inputs=[("x", "f32", ["batch", "seq", 8]), ("i", "i64", [2, 3])],
    outputs=["mean", "max", "sum", "sum_all", "sum_noop", "isum"],
    initializers=[const("last", [-1], np.int64), const("first_neg", [-3], np.int64),
                  const("two_axes", [2, 0], np.int64)],
    opset=opset)

# CHECK-LABEL: func.func @main(
# CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x?x8xf32>
# CHECK-SAME: %[[I:[a-z0-9]+]]: tensor<2x3xi64>
# keep_dims defaults to true and is then not printed.
# CHECK: %[[MEAN:.*]] = graph.reduce_mean %[[X]] {axes = array<i64: 2>} : (tensor<?x?x8xf32>) -> tensor<?x?x1xf32>
# CHECK: %[[MAX:.*]] = graph.reduce_max %[[X]] {axes = array<i64: 0>, keep_dims = false} : (tensor<?x?x8xf32>) -> tensor<?x8xf32>
# Axes come out sorted.
# CHECK: %[[SUM:.*]] = graph.reduce_sum %[[X]] {axes = array<i64: 0, 2>, keep_dims = false} : (tensor<?x?x8xf32>) -> tensor<?xf32>
# Without axes, all dims reduce.
# CHECK: %[[ALL:.*]] = graph.reduce_sum %[[X]] {axes = array<i64>} : (tensor<?x?x8xf32>) -> tensor<1x1x1xf32>
# CHECK: %[[ISUM:.*]] = graph.reduce_sum %[[I]] {axes = array<i64: 1>} : (tensor<2x3xi64>) -> tensor<2x1xi64>
# noop_with_empty_axes returns the input as it is.
# CHECK: return %[[MEAN]], %[[MAX]], %[[SUM]], %[[ALL]], %[[X]], %[[ISUM]] :
